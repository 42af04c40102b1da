import type { Clock } from '../../../ports/outbound/clock.port.js';

export interface BackoffPolicy {
  /** The pause after the first failure, in ms; it doubles with each further one. */
  readonly minMs: number;
  /** No pause is longer than this. */
  readonly maxMs: number;
  /**
   * Randomness, so several plugins sharing a backend do not retry in step:
   * `none` (exact doubling), `spread` (±20 %), or `full` (anywhere between 0
   * and the pause, "full jitter" in
   * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
   */
  readonly jitter?: 'none' | 'spread' | 'full';
}

/** The pause after `failures` earlier consecutive failures: minMs · 2^failures, at most maxMs, jittered. */
export function backoffDelay(policy: BackoffPolicy, failures: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(Math.max(0, failures), 30));
  switch (policy.jitter ?? 'none') {
    case 'none':
      return base;
    case 'spread':
      return Math.round(base * (0.8 + random() * 0.4));
    case 'full':
      return Math.round(base * random());
  }
}

/**
 * Exponential backoff between attempts after consecutive failures: the one
 * implementation every backend uses. Pauses run on the Clock's monotonic
 * time, so setting the wall clock neither ends one early nor stretches it.
 */
export class Backoff {
  private failures = 0;
  private until = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly clock: Clock,
  ) {}

  /** Counts a failure and starts the pause it calls for; returns the pause in ms. */
  fail(): number {
    const pause = this.pause();
    this.failures++;
    return pause;
  }

  /** Counts a failure without starting a pause (the next pause() will be longer). */
  noteFailure(): void {
    this.failures++;
  }

  /** Starts a pause as long as the failures so far call for; returns it in ms. */
  pause(): number {
    const ms = backoffDelay(this.policy, this.failures);
    this.until = this.clock.monotonic() + ms;
    return ms;
  }

  /** How long until the pause ends; 0 when an attempt is due. */
  remainingMs(): number {
    return Math.max(0, this.until - this.clock.monotonic());
  }

  /** Forgets the failures; a pause under way still runs out. */
  forgetFailures(): void {
    this.failures = 0;
  }

  /** Success: no failures, no pause. */
  reset(): void {
    this.failures = 0;
    this.until = Number.NEGATIVE_INFINITY;
  }
}
