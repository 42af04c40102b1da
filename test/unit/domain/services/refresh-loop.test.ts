import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  CancelledError,
  InvalidRequestError,
  KeyVersionUnknownError,
} from '#src/domain/model/errors.js';
import { EnvelopeService } from '#src/domain/services/envelope-service.js';
import { KeyStateTracker } from '#src/domain/services/key-state-tracker.js';
import { RefreshLoop } from '#src/domain/services/refresh-loop.js';
import { aDataKey, aSignal, type LogLine, recordingLogger } from '../../../support/builders.js';
import { FakeClock } from '../../../support/fake-clock.js';
import { scriptedWrapper } from './scripted-wrapper.js';

/**
 * Found by the reliability campaign (docs/reliability.md): with the default 10 s
 * refresh interval, health learned of a lost backend only at the next periodic
 * refresh (up to 10 s plus the probe) and of its return only one full interval
 * after a failed refresh, so a token restored after a short outage showed
 * healthy again 16 s later. Now a live call that fails with backend trouble asks
 * for an early probe, and an unhealthy backend is re-probed every second.
 */
const INTERVAL = 10_000;
let clock: FakeClock;
let backend: ReturnType<typeof scriptedWrapper>;
let tracker: KeyStateTracker;
let service: EnvelopeService;
let loop: RefreshLoop;
let lines: LogLine[];

beforeEach(async () => {
  clock = new FakeClock();
  lines = [];
  backend = scriptedWrapper();
  tracker = new KeyStateTracker(backend.wrapper, clock, recordingLogger(lines), 30_000);
  service = new EnvelopeService(backend.wrapper, tracker);
  loop = new RefreshLoop(tracker, INTERVAL, clock, recordingLogger(lines));
  await loop.first();
  loop.start();
});
afterEach(async () => {
  backend.script.hang = false;
  const stopped = loop.stop();
  await clock.advanceAsync(INTERVAL); // cuts off a refresh a test left hanging
  await stopped;
});

const healthy = () => tracker.snapshot().health.healthy;

describe('RefreshLoop: how fast health follows the backend', () => {
  it('re-probes an unhealthy backend every second, so health clears within about 1 s of its return', async () => {
    backend.script.fail = new BackendUnavailableError('token removed');
    await clock.advanceAsync(INTERVAL);
    expect(healthy()).toBe(false);
    backend.script.fail = undefined; // the backend is back
    await clock.advanceAsync(1_100);
    expect(healthy()).toBe(true);
  });

  it('goes back to the normal interval once healthy', async () => {
    backend.script.fail = new BackendUnavailableError('down');
    await clock.advanceAsync(INTERVAL);
    backend.script.fail = undefined;
    await clock.advanceAsync(1_100);
    const probes = backend.calls.currentVersion;
    await clock.advanceAsync(INTERVAL - 1_500);
    expect(backend.calls.currentVersion).toBe(probes);
    await clock.advanceAsync(1_500);
    expect(backend.calls.currentVersion).toBe(probes + 1);
  });

  it('a live call failing with backend trouble triggers a probe at once: health reports the outage without waiting for the interval', async () => {
    await clock.advanceAsync(2_000); // mid-interval
    backend.script.fail = new BackendUnavailableError('token removed');
    await expect(service.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal())).rejects.toBeInstanceOf(
      BackendUnavailableError,
    );
    await clock.advanceAsync(10);
    expect(healthy()).toBe(false);
    expect(tracker.status().healthz).toMatch(/^backend-unavailable: token removed/);
  });

  it('probes at most once a second however many live calls fail', async () => {
    await clock.advanceAsync(2_000);
    backend.script.fail = new BackendUnavailableError('down');
    const before = backend.calls.currentVersion;
    for (let i = 0; i < 50; i++) {
      await service.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal()).catch(() => undefined);
      await clock.advanceAsync(20); // 50 failures over 1 s
    }
    expect(backend.calls.currentVersion - before).toBeLessThanOrEqual(2);
  });

  it.each([
    ['a bad request', new InvalidRequestError('plaintext must not be empty')],
    ['an unknown key_id', new KeyVersionUnknownError('key_id x is not in this keyring')],
    ['a cancelled call', new CancelledError('the call was cancelled')],
  ])('%s does not trigger a probe (the caller caused it, not the backend)', async (_what, err) => {
    await clock.advanceAsync(2_000);
    const before = backend.calls.currentVersion;
    backend.script.fail = err;
    await service.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal()).catch(() => undefined);
    backend.script.fail = undefined;
    await clock.advanceAsync(100);
    expect(backend.calls.currentVersion).toBe(before);
  });

  it('stops probing after stop()', async () => {
    await loop.stop();
    const before = backend.calls.currentVersion;
    backend.script.fail = new BackendUnavailableError('down');
    await service.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal()).catch(() => undefined);
    await clock.advanceAsync(3 * INTERVAL);
    expect(backend.calls.currentVersion).toBe(before);
  });

  it('a hung backend holds a refresh no longer than its budget, and health says why', async () => {
    backend.script.hang = true;
    await clock.advanceAsync(INTERVAL); // the periodic refresh starts and hangs
    expect(healthy()).toBe(true);
    await clock.advanceAsync(INTERVAL); // the budget: min(10 s, max(interval, 2 s))
    expect(healthy()).toBe(false);
    expect(tracker.snapshot().health.reason).toMatch(/^deadline-exceeded: /);
  });

  /**
   * Shutdown stops the loop and then closes the backend. stop() used to
   * return at once, so a refresh still under way ran into the closed backend
   * and logged a spurious "backend health probe failed" on every shutdown
   * that met one.
   */
  it('stop() waits for a refresh in flight, so the backend is never closed under a probe', async () => {
    let release = (): void => undefined;
    const held = new Promise<void>((r) => (release = r));
    let closed = false;
    const inner = backend.wrapper.currentVersion;
    backend.wrapper.currentVersion = async (signal) => {
      await held;
      if (closed) throw new BackendUnavailableError('the backend is closed');
      return inner(signal);
    };
    await clock.advanceAsync(INTERVAL); // the periodic refresh is now waiting on the backend
    let stopped = false;
    const stopping = loop.stop().then(() => (stopped = true));
    await clock.advanceAsync(0);
    expect(stopped).toBe(false);
    release();
    await stopping;
    closed = true; // what the lifecycle does next
    await clock.advanceAsync(3 * INTERVAL);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
    expect(healthy()).toBe(true);
  });
});
