import { beforeEach, describe, expect, it } from 'vitest';
import { BackendMisconfiguredError, BackendUnavailableError } from '#src/domain/model/errors.js';
import { KeyStateHealthProbes } from '#src/domain/services/health-probes.js';
import { KeyStateTracker } from '#src/domain/services/key-state-tracker.js';
import type { ProbeResult } from '#src/ports/inbound/operations.port.js';
import { aSignal, recordingLogger } from '../../../support/builders.js';
import { FakeClock } from '../../../support/fake-clock.js';
import { scriptedWrapper } from './scripted-wrapper.js';

const MAX_AGE = 30_000;
let backend: ReturnType<typeof scriptedWrapper>;
let clock: FakeClock;
let tracker: KeyStateTracker;
let socket: ProbeResult;
let probes: KeyStateHealthProbes;

beforeEach(() => {
  backend = scriptedWrapper();
  clock = new FakeClock();
  tracker = new KeyStateTracker(backend.wrapper, clock, recordingLogger(), MAX_AGE);
  socket = { ok: true, reason: 'ok' };
  probes = new KeyStateHealthProbes(tracker, () => socket);
});

describe('KeyStateHealthProbes', () => {
  it('is live but not ready before the first successful refresh', () => {
    expect(probes.liveness()).toEqual({ ok: true, reason: 'ok' });
    expect(probes.readiness()).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^backend-unavailable: no key-encryption key/),
    });
  });

  it('is ready after a healthy refresh, without calling the backend itself', async () => {
    await tracker.refresh(aSignal());
    const calls = { ...backend.calls };
    expect(probes.readiness()).toEqual({ ok: true, reason: 'ok' });
    expect(probes.liveness().ok).toBe(true);
    expect(backend.calls).toEqual(calls);
  });

  it('stays live but turns unready during an outage, with the probe’s reason, and recovers', async () => {
    await tracker.refresh(aSignal());
    backend.script.fail = new BackendUnavailableError('connection refused');
    await tracker.refresh(aSignal());
    expect(probes.liveness().ok).toBe(true);
    expect(probes.readiness()).toEqual({ ok: false, reason: 'backend-unavailable: connection refused' });
    backend.script.fail = undefined;
    await tracker.refresh(aSignal());
    expect(probes.readiness().ok).toBe(true);
  });

  it('turns unready when the last success is too old (a hung backend), like Status', async () => {
    await tracker.refresh(aSignal());
    clock.advance(MAX_AGE + 1);
    expect(probes.readiness().ok).toBe(false);
  });

  it('turns unready when an error latched that stops writes', async () => {
    await tracker.refresh(aSignal());
    backend.script.fail = new BackendMisconfiguredError('PIN incorrect');
    await tracker.refresh(aSignal());
    expect(probes.readiness()).toEqual({ ok: false, reason: 'backend-misconfigured: PIN incorrect' });
  });

  it('is neither live nor ready when the socket is not served', async () => {
    await tracker.refresh(aSignal());
    socket = { ok: false, reason: 'socket file removed' };
    expect(probes.liveness()).toEqual(socket);
    expect(probes.readiness()).toEqual(socket);
  });
});
