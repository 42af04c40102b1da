/** A timer started by Clock.setTimer. */
export interface Timer {
  /** Stops the timer if it has not fired yet; harmless afterwards. */
  cancel(): void;
}

/** Time and timers, a port so tests can control them. */
export interface Clock {
  /** Wall-clock time in milliseconds since the epoch: for timestamps, and expiry times other systems state. */
  now(): number;
  /**
   * Milliseconds from an arbitrary origin that never goes backwards or jumps
   * when the wall clock is set: for intervals, deadlines and backoff.
   */
  monotonic(): number;
  /** Calls `fn` once after `ms` unless cancelled first. A pending timer never keeps the process alive. */
  setTimer(ms: number, fn: () => void): Timer;
}
