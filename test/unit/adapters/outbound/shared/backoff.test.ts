import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay } from '#src/adapters/outbound/shared/backoff.js';
import { FakeClock } from '../../../../support/fake-clock.js';

describe('backoffDelay', () => {
  const policy = { minMs: 100, maxMs: 1_000 };

  it('doubles from minMs per failure and stops at maxMs', () => {
    expect([0, 1, 2, 3, 4, 5, 60].map((n) => backoffDelay(policy, n))).toEqual([
      100, 200, 400, 800, 1_000, 1_000, 1_000,
    ]);
  });

  it('spread keeps within ±20 %; full anywhere from 0 to the pause', () => {
    for (const r of [0, 0.5, 0.999]) {
      const spread = backoffDelay({ ...policy, jitter: 'spread' }, 2, () => r);
      expect(spread).toBeGreaterThanOrEqual(320);
      expect(spread).toBeLessThanOrEqual(480);
      const full = backoffDelay({ ...policy, jitter: 'full' }, 2, () => r);
      expect(full).toBeGreaterThanOrEqual(0);
      expect(full).toBeLessThanOrEqual(400);
    }
    expect(backoffDelay({ ...policy, jitter: 'full' }, 2, () => 0.5)).toBe(200);
  });
});

describe('Backoff', () => {
  it('pauses after each failure, longer each time, and forgets everything on success', () => {
    const clock = new FakeClock();
    const b = new Backoff({ minMs: 100, maxMs: 1_000 }, clock);
    expect(b.remainingMs()).toBe(0);
    expect(b.fail()).toBe(100);
    expect(b.remainingMs()).toBe(100);
    clock.advance(100);
    expect(b.remainingMs()).toBe(0);
    expect(b.fail()).toBe(200);
    b.reset();
    expect(b.remainingMs()).toBe(0);
    expect(b.fail()).toBe(100);
  });

  it('can count failures apart from the pause they lead to (Vault logins), and forget them while a pause runs', () => {
    const clock = new FakeClock();
    const b = new Backoff({ minMs: 1_000, maxMs: 60_000 }, clock);
    expect(b.pause()).toBe(1_000);
    b.noteFailure();
    b.noteFailure();
    clock.advance(1_000);
    expect(b.pause()).toBe(4_000);
    b.forgetFailures();
    expect(b.remainingMs()).toBe(4_000);
    clock.advance(4_000);
    expect(b.pause()).toBe(1_000);
  });

  it('measures pauses on the monotonic clock, not the wall clock', () => {
    let wall = 0;
    let mono = 0;
    const clock = { now: () => wall, monotonic: () => mono, setTimer: () => ({ cancel: () => undefined }) };
    const b = new Backoff({ minMs: 1_000, maxMs: 1_000 }, clock);
    b.fail();
    wall += 3_600_000; // the wall clock is set an hour ahead
    expect(b.remainingMs()).toBe(1_000);
    wall -= 7_200_000; // and two hours back
    mono += 1_000;
    expect(b.remainingMs()).toBe(0);
  });
});
