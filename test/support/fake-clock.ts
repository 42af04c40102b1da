import type { Clock, Timer } from '#src/ports/outbound/clock.port.js';

interface Pending {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/**
 * A Clock that only moves when a test says so. Wall and monotonic time move
 * together (unless stepWall() sets the wall clock apart); timers fire, in
 * order, when advance() passes their time.
 */
export class FakeClock implements Clock {
  private mono = 0;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(private ms = Date.parse('2026-01-01T00:00:00Z')) {}

  now(): number {
    return this.ms;
  }

  monotonic(): number {
    return this.mono;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const p: Pending = { at: this.mono + Math.max(0, ms), seq: this.seq++, fn };
    this.pending.push(p);
    return { cancel: () => void (this.pending = this.pending.filter((q) => q !== p)) };
  }

  /**
   * Sets the wall clock `ms` ahead (or back, if negative) without moving the
   * monotonic time or firing timers, as `date -s` or an NTP step does.
   */
  stepWall(ms: number): void {
    this.ms += ms;
  }

  /** Timers not yet fired or cancelled. */
  get timers(): number {
    return this.pending.length;
  }

  /** Moves time forward by `ms`, firing each timer that comes due at its own time. */
  advance(ms: number): void {
    const target = this.mono + ms;
    for (let next = this.nextDue(target); next; next = this.nextDue(target)) {
      this.moveTo(next.at);
      next.fn();
    }
    this.moveTo(target);
  }

  /**
   * advance(), letting the promise work each timer starts settle before the
   * next one fires (and after the last), as real time would.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.mono + ms;
    for (let next = this.nextDue(target); next; next = this.nextDue(target)) {
      this.moveTo(next.at);
      next.fn();
      await settle();
    }
    this.moveTo(target);
    await settle();
  }

  private nextDue(target: number): Pending | undefined {
    const due = this.pending.filter((p) => p.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
    if (due) this.pending = this.pending.filter((p) => p !== due);
    return due;
  }

  private moveTo(mono: number): void {
    this.ms += mono - this.mono;
    this.mono = mono;
  }
}

/** Lets every queued promise callback (and those they queue) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
