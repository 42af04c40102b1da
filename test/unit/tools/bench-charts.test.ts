import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BenchResult,
  charts,
  figuresFromPage,
  figuresFromResult,
  latencyCallers,
  linkedCharts,
  PAGE_BEGIN,
  PAGE_END,
  syncCharts,
} from '../../../tools/bench-charts.js';

const DOCS = new URL('../../../docs/', import.meta.url).pathname;
// bench/lib/report.mjs is plain JavaScript without declarations: imported by a computed name.
const REPORT = new URL('../../../bench/lib/report.mjs', import.meta.url).href;
const { markdown } = (await import(REPORT)) as { markdown: (result: unknown) => string };

const cell = (throughput_per_s: number, p50_ms: number, p99_ms: number, p999_ms: number) => ({
  reps: 3,
  throughput_per_s,
  p50_ms,
  p99_ms,
  p999_ms,
  max_ms: p999_ms * 2,
  cpu_us_per_op: 100,
  loop_p99_ms: 1,
  errors: 0,
  load1: 1,
});

/** A bench result with the fields bench/lib/report.mjs `markdown` reads: two measured groups, one skipped. */
function result() {
  const byC = (base: number) => ({
    1: cell(base + 0.4, 0.2394, 0.7749, 3.69),
    16: cell(base * 2.5, 1.353, 9.291, 17.055),
    64: cell(base * 3, 4.5, 21.1, 27.0),
  });
  const r = {
    kind: 'full',
    finished_at: '2026-12-04T20:28:45.995Z',
    machine: { nproc: 2, cpu: 'test cpu', memory_bytes: 2 ** 33, kernel: '6.1' },
    versions: { kleidi: '0.1.0' },
    settings: { duration_ms: 6000, reps: 3, concurrency: [1, 16, 64], warmup_ms: 3000 },
    load_average: { start: { one: 1 }, end: { one: 1 }, median_cell: 1 },
    goals: [],
    backends: {
      local: {
        status: 'ok',
        kleidi: 'kleidi-local',
        baseline: 'go-reference',
        references: ['node-floor'],
        summary: {
          'kleidi-local': { encrypt: byC(3589), decrypt: byC(4684) },
          'go-reference': { encrypt: byC(6132), decrypt: byC(6712) },
          // A target without Encrypt figures: a gap in its series, not a zero.
          'node-floor': { decrypt: byC(3831) },
        },
        ratios: {},
        reference_ratios: {},
        startup: {},
        storm: {},
        peak_rss_bytes: {},
      },
      pkcs11: {
        status: 'ok',
        kleidi: 'kleidi-pkcs11',
        baseline: 'raw-pkcs11',
        references: [],
        summary: {
          'kleidi-pkcs11': { encrypt: byC(2355), decrypt: byC(2495) },
          'raw-pkcs11': { encrypt: byC(11913), decrypt: byC(11683) },
        },
        ratios: {},
        startup: {},
        storm: {},
        peak_rss_bytes: {},
      },
      vault: { status: 'skipped: no vault binary' },
    },
  };
  return r satisfies BenchResult;
}

const page = (r: unknown) => `# Benchmarks\n\n${PAGE_BEGIN}\n${markdown(r)}\n${PAGE_END}\n`;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A docs/ directory holding `doc` as benchmarks.md and the charts drawn from it. */
function docsDir(doc: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kleidi-charts-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'benchmarks.md'), doc);
  expect(syncCharts(dir, doc, charts(figuresFromPage(doc)), 'write')).toEqual([]);
  return dir;
}

describe('the benchmark charts', () => {
  it('read the same figures from the bench JSON as from the page generated from it', () => {
    const r = result();
    const fromJson = figuresFromResult(r);
    expect(figuresFromPage(page(r))).toEqual(fromJson);
    expect(fromJson.map((f) => f.name)).toEqual(['local', 'pkcs11']);
    // Rounded as the table shows them: the page is what the charts can be checked against.
    expect(fromJson[0]?.rows[0]).toEqual({
      target: 'kleidi-local',
      op: 'encrypt',
      callers: 1,
      throughput: 3589,
      p50: 0.24,
      p99: 0.77,
      p999: 3.69,
    });
    expect(charts(fromJson)).toEqual(charts(figuresFromPage(page(r))));
  });

  it('are two per measured backend, and the generated page links exactly those', () => {
    const r = result();
    const files = charts(figuresFromResult(r)).map((f) => f.path);
    expect(files).toEqual([
      'img/bench-local-throughput.svg',
      'img/bench-local-latency.svg',
      'img/bench-pkcs11-throughput.svg',
      'img/bench-pkcs11-latency.svg',
    ]);
    expect(linkedCharts(page(r))).toEqual(files);
  });

  it('draw latency at 16 callers, or the middle level when a run had no 16', () => {
    expect(latencyCallers([1, 16, 64])).toBe(16);
    expect(latencyCallers([64, 1, 8])).toBe(8);
    const svg = charts(figuresFromResult(result()))[1]?.svg ?? '';
    expect(svg).toContain('client latency at 16 concurrent callers');
    expect(svg).toContain('>latency (ms)</text>');
  });

  it('leave a gap, not a zero, where a target has no figure', () => {
    const svg = charts(figuresFromResult(result()))[0]?.svg ?? '';
    expect(svg).toContain('node-floor: Encrypt 1: not measured;');
    expect(svg).not.toMatch(/<title>node-floor, Encrypt/);
  });

  it('committed in docs/img are current with the figures in docs/benchmarks.md', () => {
    const doc = readFileSync(join(DOCS, 'benchmarks.md'), 'utf8');
    const files = charts(figuresFromPage(doc));
    expect(files.length).toBeGreaterThan(0);
    expect(syncCharts(DOCS, doc, files, 'check')).toEqual([]);
  });

  it('are reported stale when a figure on the page changed, and redrawn by write mode', () => {
    const doc = page(result());
    const dir = docsDir(doc);
    const changed = doc.replace('| kleidi-local | decrypt | 16 | 11710 |', '| kleidi-local | decrypt | 16 | 11000 |');
    expect(changed).not.toBe(doc);
    expect(syncCharts(dir, changed, charts(figuresFromPage(changed)), 'check')).toEqual([
      'docs/img/bench-local-throughput.svg is stale',
    ]);
    expect(syncCharts(dir, changed, charts(figuresFromPage(changed)), 'write')).toEqual([]);
    expect(syncCharts(dir, changed, charts(figuresFromPage(changed)), 'check')).toEqual([]);
  });

  it('are reported missing, left over or unlinked', () => {
    const doc = page(result());
    const dir = docsDir(doc);
    rmSync(join(dir, 'img/bench-pkcs11-latency.svg'));
    cpSync(join(dir, 'img/bench-local-latency.svg'), join(dir, 'img/bench-gone-latency.svg'));
    const unlinked = doc.replace(/^!\[[^\]]*\]\(img\/bench-local-latency\.svg\)\n/m, '');
    const extraLink = `${unlinked}\n![old](img/bench-aws-latency.svg)\n`;
    expect(syncCharts(dir, extraLink, charts(figuresFromPage(extraLink)), 'check')).toEqual([
      'docs/benchmarks.md links img/bench-aws-latency.svg, which no figures on the page draw',
      'docs/benchmarks.md does not link img/bench-local-latency.svg',
      'docs/img/bench-pkcs11-latency.svg is missing',
      'docs/img/bench-gone-latency.svg is drawn by no figures on the page',
    ]);
    // Write mode redraws and removes files, but cannot fix the page's links.
    expect(syncCharts(dir, extraLink, charts(figuresFromPage(extraLink)), 'write')).toHaveLength(2);
    expect(existsSync(join(dir, 'img/bench-gone-latency.svg'))).toBe(false);
    expect(existsSync(join(dir, 'img/bench-pkcs11-latency.svg'))).toBe(true);
  });

  it('refuse a page without the generated block', () => {
    expect(() => figuresFromPage('# Benchmarks\n')).toThrow(/lacks the markers/);
  });
});
