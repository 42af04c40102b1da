import { describe, expect, it } from 'vitest';
import { analyzeCalls } from '../../reliability/support/analysis.js';
import type { Call } from '../../reliability/support/load.js';

const T0 = 1_800_000_000_000;
const failure = (ms: number, deadlineSeenAfterMs?: number, code = 'DeadlineExceeded'): Call => ({
  start: T0,
  end: T0 + ms,
  op: 'encrypt',
  code,
  ...(deadlineSeenAfterMs !== undefined ? { deadlineSeen: T0 + deadlineSeenAfterMs } : {}),
});
const window = (calls: Call[]) =>
  analyzeCalls(calls, { from: T0 - 1, to: T0 + 10_000, allowed: ['DeadlineExceeded', 'Unavailable'] }).window;

describe('reliability campaign: "failures inside the deadline" is judged against the deadline the caller saw', () => {
  it('does not count a call that came back late only because the starved caller saw its own deadline late', () => {
    // Deadline due at 3,000 ms; the loadgen ran again only at 3,880 ms and returned 20 ms later.
    const w = window([failure(3_900, 3_880)]);
    expect(w.late).toBe(0);
    expect(w.lateCaller).toBe(1);
    expect(w.maxCallerLagMs).toBe(880);
  });

  it('counts a call still running long after the caller saw its deadline pass on time', () => {
    const w = window([failure(3_900, 3_001, 'Unavailable')]);
    expect(w.late).toBe(1);
  });

  it('counts a call beyond deadline + slack whose caller never saw its deadline', () => {
    expect(window([failure(3_900)]).late).toBe(1);
  });

  it('keeps "deadline + slack" unchanged for a caller that ran on time', () => {
    const w = window([failure(3_400, 3_000), failure(2_500, undefined, 'Unavailable')]);
    expect(w.late).toBe(0);
    expect(w.lateCaller).toBe(0);
    expect(w.maxFailMs).toBe(3_400);
  });
});
