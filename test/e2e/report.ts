import type { ScenarioResult } from './context.js';

const fmt = (v: number | string | boolean): string =>
  typeof v === 'string' && v.length > 28 ? `${v.slice(0, 25)}…` : String(v);

/** The per-scenario table printed at the end of a run (the same rows as the JSON report). */
export function printTable(results: readonly ScenarioResult[]): void {
  const rows = results.map((r) => [
    r.kubernetes,
    r.backend,
    r.scenario,
    r.ok ? 'ok' : 'FAILED',
    r.seconds.toFixed(1),
    Object.entries(r.figures)
      .map(([k, v]) => `${k}=${fmt(v)}`)
      .join(' '),
  ]);
  const head = ['kubernetes', 'backend', 'scenario', 'result', 'seconds', 'figures'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  console.log(`\n${line(head)}`);
  for (const row of rows) console.log(line(row));
}
