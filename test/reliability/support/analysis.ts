import { DEADLINE_MS, DEADLINE_SLACK_MS } from './env.js';
import type { Call } from './load.js';

/** A time span in which failures are expected, and which codes they may carry. */
export interface FaultWindow {
  readonly from: number;
  readonly to: number;
  readonly allowed: readonly string[];
}

export interface WindowStats {
  readonly calls: number;
  readonly ok: number;
  readonly failed: number;
  readonly byCode: Record<string, number>;
  /** Failures with a code outside `allowed`. */
  readonly disallowed: number;
  /** Failures that took longer than the deadline plus slack. */
  readonly late: number;
  readonly maxFailMs: number;
  readonly maxOkMs: number;
}

export interface CallAnalysis {
  readonly window: WindowStats;
  /** Calls entirely outside the window (before the fault, after recovery). */
  readonly outside: WindowStats;
  readonly wrong: number;
  readonly total: number;
}

function stats(calls: readonly Call[], allowed: readonly string[]): WindowStats {
  const byCode: Record<string, number> = {};
  let ok = 0;
  let disallowed = 0;
  let late = 0;
  let maxFailMs = 0;
  let maxOkMs = 0;
  for (const c of calls) {
    byCode[c.code] = (byCode[c.code] ?? 0) + 1;
    const ms = c.end - c.start;
    if (c.code === 'OK') {
      ok++;
      maxOkMs = Math.max(maxOkMs, ms);
      continue;
    }
    maxFailMs = Math.max(maxFailMs, ms);
    if (!allowed.includes(c.code)) disallowed++;
    if (ms > DEADLINE_MS + DEADLINE_SLACK_MS) late++;
  }
  return { calls: calls.length, ok, failed: calls.length - ok, byCode, disallowed, late, maxFailMs, maxOkMs };
}

/**
 * Splits the calls into those that overlap the fault window and those that do
 * not. Inside, only `allowed` codes may appear and every failure must come back
 * within the deadline; outside, nothing may fail. WRONG is never allowed.
 */
export function analyzeCalls(calls: readonly Call[], w: FaultWindow): CallAnalysis {
  const inside = calls.filter((c) => c.end >= w.from && c.start <= w.to);
  const outside = calls.filter((c) => c.end < w.from || c.start > w.to);
  return {
    window: stats(
      inside,
      w.allowed.filter((c) => c !== 'WRONG'),
    ),
    outside: stats(outside, []),
    wrong: calls.filter((c) => c.code === 'WRONG').length,
    total: calls.length,
  };
}
