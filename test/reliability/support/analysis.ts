import { DEADLINE_MS, DEADLINE_SLACK_MS } from './deadline.js';
import type { Call } from './load.js';

/** A time span in which failures are expected, and which codes they may carry. */
export interface FaultWindow {
  readonly from: number;
  readonly to: number;
  readonly allowed: readonly string[];
}

interface WindowStats {
  readonly calls: number;
  readonly ok: number;
  readonly failed: number;
  readonly byCode: Record<string, number>;
  /** Failures with a code outside `allowed`. */
  readonly disallowed: number;
  /**
   * Failures that kept the caller past its deadline: longer than the deadline
   * plus slack, and still running more than the slack after the caller itself
   * saw its deadline pass (see lateness()).
   */
  readonly late: number;
  /**
   * Failures longer than the deadline plus slack only because the caller saw
   * its own deadline late (the machine starved it), not counted as late.
   */
  readonly lateCaller: number;
  /** How late the caller saw its own deadline pass, at most (ms after start + deadline): the machine's share. */
  readonly maxCallerLagMs: number;
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
  let lateCaller = 0;
  let maxCallerLagMs = 0;
  let maxFailMs = 0;
  let maxOkMs = 0;
  for (const c of calls) {
    byCode[c.code] = (byCode[c.code] ?? 0) + 1;
    const ms = c.end - c.start;
    if (c.deadlineSeen !== undefined) maxCallerLagMs = Math.max(maxCallerLagMs, c.deadlineSeen - c.start - DEADLINE_MS);
    if (c.code === 'OK') {
      ok++;
      maxOkMs = Math.max(maxOkMs, ms);
      continue;
    }
    maxFailMs = Math.max(maxFailMs, ms);
    if (!allowed.includes(c.code)) disallowed++;
    const l = lateness(c);
    if (l === 'late') late++;
    else if (l === 'caller') lateCaller++;
  }
  return {
    calls: calls.length,
    ok,
    failed: calls.length - ok,
    byCode,
    disallowed,
    late,
    lateCaller,
    maxCallerLagMs,
    maxFailMs,
    maxOkMs,
  };
}

/**
 * Whether a call came back inside its deadline. kube-apiserver's client ends
 * every call at its own deadline (start + 3 s), so a call can only come back
 * later when the caller itself runs late: on a machine busy with other work
 * the loadgen may see its deadline pass a second after it fell due, and the
 * call returns with it. Measured on the caller's clock alone, that would blame
 * kleidi for the machine. So the check is judged against the deadline as the
 * caller observed it: a call is late when it took longer than the deadline
 * plus slack AND was still running more than the slack after the caller saw
 * its deadline pass (or the caller never saw it). On an idle machine the
 * caller sees its deadline on time, and this is exactly "deadline + slack".
 */
function lateness(c: Call): 'inside' | 'caller' | 'late' {
  if (c.end - c.start <= DEADLINE_MS + DEADLINE_SLACK_MS) return 'inside';
  return c.deadlineSeen !== undefined && c.end - c.deadlineSeen <= DEADLINE_SLACK_MS ? 'caller' : 'late';
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
