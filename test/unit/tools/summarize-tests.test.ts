import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../../..');
const SCRIPT = join(REPO, 'scripts/summarize-tests.mjs');

/** A vitest JSON report (`--reporter=json`) with the fields the closing count reads. */
function vitestReport(files: { status: 'passed' | 'failed'; tests: ('passed' | 'failed')[] }[]) {
  const tests = files.flatMap((f) => f.tests);
  return {
    numTotalTestSuites: files.length,
    numTotalTests: tests.length,
    numPassedTests: tests.filter((t) => t === 'passed').length,
    numFailedTests: tests.filter((t) => t === 'failed').length,
    numPendingTests: 0,
    numTodoTests: 0,
    success: files.every((f) => f.status === 'passed'),
    testResults: files.map((f, i) => ({
      name: `file-${i}.ts`,
      status: f.status,
      assertionResults: f.tests.map((status, j) => ({ status, fullName: `suite test-${i}-${j}` })),
    })),
  };
}

/** The benchmark's JSON (.cache/bench/quick.json): one status per backend group. */
function benchReport(statuses: Record<string, string>) {
  return {
    kind: 'quick',
    backends: Object.fromEntries(Object.entries(statuses).map(([k, status]) => [k, { status }])),
    goals: [],
  };
}

describe('scripts/summarize-tests.mjs: the closing count includes every step that can fail the run', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-summary-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function report(name: string, content: unknown): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  }

  function summarize(...args: string[]): { line: string; code: number | null; stderr: string } {
    const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
    return { line: r.stdout.trim(), code: r.status, stderr: r.stderr };
  }

  it('counts a benchmark group that broke (the benchmark fails the run)', async () => {
    const vitest = await report('vitest.json', vitestReport([{ status: 'passed', tests: ['passed', 'passed'] }]));
    const conformance = await report('conformance-local.json', { passed: 8, failed: 0 });
    const bench = await report('quick.json', benchReport({ local: 'ok', pkcs11: 'failed: token not found' }));
    const r = summarize(vitest, conformance, bench);
    expect(r.line).toBe('kleidi: 11 passed, 1 failed');
    expect(r.stderr).toContain('benchmark group pkcs11: failed: token not found');
  });

  it('counts a campaign file that failed in a hook even when another file has a failed test', async () => {
    const campaign = await report(
      'reliability-local.json',
      vitestReport([
        { status: 'failed', tests: ['passed', 'failed'] },
        { status: 'failed', tests: ['passed'] }, // afterAll threw: every test passed, the file failed
      ]),
    );
    expect(summarize(campaign).line).toBe('kleidi: 2 passed, 2 failed');
  });

  it('names the failed tests last, above the closing line, since CI shows only the tail of a run', async () => {
    const campaign = await report(
      'reliability-local.json',
      vitestReport([
        { status: 'failed', tests: ['passed', 'failed'] },
        { status: 'failed', tests: ['passed'] },
      ]),
    );
    const r = summarize(campaign);
    const lines = r.stderr.trim().split('\n');
    expect(lines.slice(-2)).toEqual([
      'summarize-tests: failed: file-0.ts > suite test-0-1',
      'summarize-tests: failed: file-1.ts (the file failed outside its tests)',
    ]);
    expect(r.stderr).not.toContain('test-0-0');
  });

  it("quotes the head of each failure's message under its name, without colours or stack frames", async () => {
    const r0 = vitestReport([{ status: 'failed', tests: ['failed'] }]);
    const message = [
      '\x1b[31mError: timed out; output so far:\x1b[39m',
      '12:00:00.000Z INFO  starting',
      '    at until (test/integration/terminal-faces.test.ts:51:36)',
      'x'.repeat(300),
      ...Array.from({ length: 10 }, (_, i) => `line ${i}`),
    ].join('\n');
    const file = {
      ...r0.testResults[0],
      assertionResults: [{ status: 'failed', fullName: 'suite t', failureMessages: [message] }],
    };
    const r = summarize(await report('vitest.json', { ...r0, testResults: [file] }));
    expect(r.stderr).toContain(
      [
        'summarize-tests: failed: file-0.ts > suite t',
        '    Error: timed out; output so far:',
        '    12:00:00.000Z INFO  starting',
        `    ${'x'.repeat(240)}…`,
        '    line 0',
        '    line 1',
        '    line 2',
        'kleidi',
      ]
        .join('\n')
        .replace('\nkleidi', ''),
    );
    expect(r.stderr).not.toContain('at until');
    expect(r.stderr).not.toContain('line 3');
  });

  it('counts the end-to-end scenarios and names a failed one with its error', async () => {
    const e2e = await report('e2e.json', {
      wallSeconds: 300,
      setupSeconds: 1,
      quick: false,
      results: [
        { scenario: 'write-read', kubernetes: '1.37.2', backend: 'local', ok: true, seconds: 4, figures: {} },
        {
          scenario: 'retire',
          kubernetes: '1.37.2',
          backend: 'local',
          ok: false,
          seconds: 9,
          figures: {},
          error: 'retire 1 exited 1\n    at stack',
        },
      ],
    });
    const empty = await report('e2e-empty.json', { wallSeconds: 1, setupSeconds: 1, quick: true, results: [] });
    const r = summarize('--step', `end to end=1:${e2e}`, '--step', `no scenario ran=1:${empty}`);
    expect(r.line).toBe('kleidi: 1 passed, 2 failed');
    expect(r.stderr).toContain('failed: e2e 1.37.2 local > retire\n    retire 1 exited 1');
    expect(r.stderr).not.toContain('at stack');
  });

  it("counts the container image's checks and names a failed one", async () => {
    const image = await report('image.json', {
      passed: 1,
      failed: 1,
      checks: [
        { name: 'the socket is 0600 and owned by 65532 on the host', ok: true },
        { name: 'conformance harness against the container (exit 1)', ok: false },
      ],
      conformance: null,
      image: { ref: 'localhost/kleidi:x', bytes: 1 },
      base: { ref: 'localhost/base:x', bytes: 1 },
      seconds: { build: 1, staticPod: 1, conformance: 1, total: 3 },
    });
    const r = summarize('--step', `container image=1:${image}`);
    expect(r.line).toBe('kleidi: 1 passed, 1 failed');
    expect(r.stderr).toContain('failed: image > conformance harness against the container (exit 1)');
  });

  it('counts a step that exited non-zero although its reports show no failure', async () => {
    const bench = await report('quick.json', benchReport({ local: 'ok', pkcs11: 'ok' }));
    const campaign = await report('rest.json', vitestReport([{ status: 'passed', tests: ['passed'] }]));
    const r = summarize('--step', `benchmark=1:${bench}`, '--step', `reliability=0:${campaign}`);
    expect(r.line).toBe('kleidi: 3 passed, 1 failed');
    expect(r.stderr).toContain('benchmark exited 1 but its reports show no failure');
  });

  it('counts a missing or unreadable report as a failure instead of losing the closing line', async () => {
    const cut = await report('cut.json', '{"numTotalTests": 3, "numPassed');
    const r = summarize(cut, join(dir, 'never-written.json'));
    expect(r.code).toBe(0);
    expect(r.line).toBe('kleidi: 0 passed, 2 failed');
  });

  it('scripts/test-all.sh hands every exit code that fails the run to the closing count', async () => {
    const script = await readFile(join(REPO, 'scripts/test-all.sh'), 'utf8');
    const condition = /if \(\((.*)\)\); then\s*\n\s*echo "test-all: failed/.exec(script)?.[1];
    expect(condition, 'the final failure condition of test-all.sh').toBeDefined();
    const gates = [...(condition ?? '').matchAll(/(\w+_rc) != 0/g)].map((m) => m[1] as string);
    expect(gates.length).toBeGreaterThanOrEqual(4);
    for (const gate of gates) {
      // The exit code reaches a --step either itself or through the variable it is copied from.
      const source = new RegExp(`${gate}=\\$(\\w+)`).exec(script)?.[1];
      const counted = [gate, source].some((v) => v && script.includes(`--step "`) && script.includes(`=$${v}:`));
      expect(counted, `${gate} is passed to summarize-tests.mjs as a --step`).toBe(true);
    }
  });
});
