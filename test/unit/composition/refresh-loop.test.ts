import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RefreshLoop } from '../../../src/composition/refresh-loop.js';
import {
  BackendUnavailableError,
  DeadlineExceededError,
  InvalidRequestError,
  KeyVersionUnknownError,
} from '../../../src/domain/model/errors.js';
import { EnvelopeService } from '../../../src/domain/services/envelope-service.js';
import { KeyStateTracker } from '../../../src/domain/services/key-state-tracker.js';
import { aDataKey, aSignal, recordingLogger } from '../../support/builders.js';
import { scriptedWrapper } from '../domain/services/scripted-wrapper.js';

/**
 * Found by the reliability campaign (docs/reliability.md): with the default 10 s
 * refresh interval, health learned of a lost backend only at the next periodic
 * refresh (up to 10 s plus the probe) and of its return only one full interval
 * after a failed refresh, so a token restored after a short outage showed
 * healthy again 16 s later. Now a live call that fails with backend trouble asks
 * for an early probe, and an unhealthy backend is re-probed every second.
 */
const INTERVAL = 10_000;
let backend: ReturnType<typeof scriptedWrapper>;
let tracker: KeyStateTracker;
let service: EnvelopeService;
let loop: RefreshLoop;

beforeEach(async () => {
  vi.useFakeTimers();
  backend = scriptedWrapper();
  tracker = new KeyStateTracker(backend.wrapper, { now: () => Date.now() }, recordingLogger(), 30_000);
  service = new EnvelopeService(backend.wrapper, tracker);
  loop = new RefreshLoop(tracker, INTERVAL, recordingLogger());
  await loop.first();
  loop.start();
});
afterEach(() => {
  loop.stop();
  vi.useRealTimers();
});

const healthy = () => tracker.snapshot().health.healthy;

describe('RefreshLoop: how fast health follows the backend', () => {
  it('re-probes an unhealthy backend every second, so health clears within about 1 s of its return', async () => {
    backend.script.fail = new BackendUnavailableError('token removed');
    await vi.advanceTimersByTimeAsync(INTERVAL);
    expect(healthy()).toBe(false);
    backend.script.fail = undefined; // the backend is back
    await vi.advanceTimersByTimeAsync(1_100);
    expect(healthy()).toBe(true);
  });

  it('goes back to the normal interval once healthy', async () => {
    backend.script.fail = new BackendUnavailableError('down');
    await vi.advanceTimersByTimeAsync(INTERVAL);
    backend.script.fail = undefined;
    await vi.advanceTimersByTimeAsync(1_100);
    const probes = backend.calls.currentVersion;
    await vi.advanceTimersByTimeAsync(INTERVAL - 1_500);
    expect(backend.calls.currentVersion).toBe(probes);
    await vi.advanceTimersByTimeAsync(1_500);
    expect(backend.calls.currentVersion).toBe(probes + 1);
  });

  it('a live call failing with backend trouble triggers a probe at once: health reports the outage without waiting for the interval', async () => {
    await vi.advanceTimersByTimeAsync(2_000); // mid-interval
    backend.script.fail = new BackendUnavailableError('token removed');
    await expect(service.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal())).rejects.toBeInstanceOf(
      BackendUnavailableError,
    );
    await vi.advanceTimersByTimeAsync(10);
    expect(healthy()).toBe(false);
    expect(tracker.status().healthz).toMatch(/^backend-unavailable: token removed/);
  });

  it('probes at most once a second however many live calls fail', async () => {
    await vi.advanceTimersByTimeAsync(2_000);
    backend.script.fail = new BackendUnavailableError('down');
    const before = backend.calls.currentVersion;
    for (let i = 0; i < 50; i++) {
      await service.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal()).catch(() => undefined);
      await vi.advanceTimersByTimeAsync(20); // 50 failures over 1 s
    }
    expect(backend.calls.currentVersion - before).toBeLessThanOrEqual(2);
  });

  it.each([
    ['a bad request', new InvalidRequestError('plaintext must not be empty')],
    ['an unknown key_id', new KeyVersionUnknownError('key_id x is not in this keyring')],
    ["the caller's deadline", new DeadlineExceededError('deadline exceeded')],
  ])('%s does not trigger a probe (the caller caused it, not the backend)', async (_what, err) => {
    await vi.advanceTimersByTimeAsync(2_000);
    const before = backend.calls.currentVersion;
    backend.script.fail = err;
    await service.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal()).catch(() => undefined);
    backend.script.fail = undefined;
    await vi.advanceTimersByTimeAsync(100);
    expect(backend.calls.currentVersion).toBe(before);
  });

  it('stops probing after stop()', async () => {
    loop.stop();
    const before = backend.calls.currentVersion;
    backend.script.fail = new BackendUnavailableError('down');
    await service.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal()).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(3 * INTERVAL);
    expect(backend.calls.currentVersion).toBe(before);
  });
});
