import { appendFileSync, existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Settings of one campaign run, passed by scripts/reliability.mjs through the
 * environment (vitest runs the campaign files in its own worker).
 */
export const REPO = resolve(import.meta.dirname, '../../..');
/** Everything a run produces: logs, journals, call CSVs, results.jsonl. */
const OUT = resolve(process.env.RELIABILITY_OUT ?? join(REPO, '.cache/reliability/run'));
export const LOGS = join(OUT, 'logs');
export const JOURNALS = join(OUT, 'journals');
export const LOADGEN = resolve(process.env.RELIABILITY_LOADGEN ?? join(OUT, 'loadgen'));
/**
 * The kleidi under test. scripts/reliability.mjs compiles it into its own
 * directory, so another build of dist/ running meanwhile cannot change it mid-run.
 */
export const KLEIDI_MAIN = join(resolve(process.env.RELIABILITY_DIST ?? join(REPO, 'dist')), 'main.js');
/** The pinned Node 24 (devDependency "node"), resolved to the binary itself so a signal reaches kleidi, not a shim. */
const PINNED_NODE = join(REPO, 'node_modules/.bin/node');
export const NODE = existsSync(PINNED_NODE) ? realpathSync(PINNED_NODE) : process.execPath;
/** 0 = the bounded CI run (one round of every fault); otherwise the soak length in ms. */
const SOAK_MS = Number(process.env.RELIABILITY_SOAK_MS ?? '0');
/** Each backend campaign's share of a soak: the soak split between the backends that run. */
export const SOAK_SHARE_MS = SOAK_MS / Math.max(1, Number(process.env.RELIABILITY_SOAK_BACKENDS ?? '3'));
/** Number of fuzz requests in the big run (the vitest suite sends a smaller count). */
export const FUZZ_REQUESTS = Number(process.env.RELIABILITY_FUZZ_REQUESTS ?? '100000');
export const HEALTH_DETECT_MAX_MS = 10_000;
export const HEALTH_RECOVER_MAX_MS = 5_000;

mkdirSync(LOGS, { recursive: true });
mkdirSync(JOURNALS, { recursive: true });

export type ResultRecord = { kind: string; backend?: string; name?: string } & Record<string, unknown>;

/**
 * Appends one result; scripts/reliability-report.mjs turns results.jsonl into docs/reliability.md.
 * The 1-minute load average goes with it: how busy the machine was when the result was measured.
 */
export function record(r: ResultRecord): void {
  const entry = { at: new Date().toISOString(), load1: Math.round(loadavg()[0]! * 100) / 100, ...r };
  appendFileSync(join(OUT, 'results.jsonl'), `${JSON.stringify(entry)}\n`);
}

/**
 * Secrets the campaign used (PINs, tokens, secret IDs, unseal keys). The log
 * scan (90-log-scan) checks that none of them appears in any log. Kept in the
 * run directory, never in the report.
 */
export function registerSecret(label: string, value: string): void {
  appendFileSync(join(OUT, 'secrets.jsonl'), `${JSON.stringify({ label, value })}\n`, { mode: 0o600 });
}

export function registeredSecrets(): { label: string; value: string }[] {
  try {
    return readFileSync(join(OUT, 'secrets.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { label: string; value: string });
  } catch {
    return [];
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Rounds of the fault list: 1 in CI; in a soak, as many as fit in `shareMs`. */
export function rounds(shareMs: number): { more(round: number): boolean; soak: boolean } {
  const until = Date.now() + shareMs;
  return { soak: SOAK_MS > 0, more: (round) => round === 0 || (SOAK_MS > 0 && Date.now() < until) };
}
