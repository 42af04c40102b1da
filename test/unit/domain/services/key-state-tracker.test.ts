import { beforeEach, describe, expect, it, vi, type Mock } from 'vitest';
import { BackendMisconfiguredError, BackendUnavailableError, KeyUnusableError } from '#src/domain/model/errors.js';
import { KeyStateTracker, type KeyStateObserver } from '#src/domain/services/key-state-tracker.js';
import { aSignal, recordingLogger } from '../../../support/builders.js';
import { FakeClock } from '../../../support/fake-clock.js';
import { scriptedWrapper } from './scripted-wrapper.js';

const MAX_AGE = 30_000;
let backend: ReturnType<typeof scriptedWrapper>;
let clock: FakeClock;
let log: ReturnType<typeof recordingLogger>;
type Observer = Required<KeyStateObserver>;
let observer: { onRefresh: Mock<Observer['onRefresh']>; onRotation: Mock<Observer['onRotation']> };
let tracker: KeyStateTracker;

beforeEach(() => {
  backend = scriptedWrapper();
  clock = new FakeClock();
  log = recordingLogger();
  observer = { onRefresh: vi.fn<Observer['onRefresh']>(), onRotation: vi.fn<Observer['onRotation']>() };
  tracker = new KeyStateTracker(backend.wrapper, clock, log, MAX_AGE, observer);
});

describe('KeyStateTracker before the first successful refresh', () => {
  it('refuses status() and writeVersion() with BackendUnavailableError', () => {
    expect(() => tracker.status()).toThrow(BackendUnavailableError);
    expect(() => tracker.writeVersion()).toThrow(/no key-encryption key available yet: not checked yet/);
  });

  it('puts the failed probe’s reason into the error', async () => {
    backend.script.fail = new BackendUnavailableError('vault sealed');
    const h = await tracker.refresh(aSignal());
    expect(h).toMatchObject({ healthy: false, reason: 'backend-unavailable: vault sealed', checkedAt: clock.now() });
    expect(h.lastSuccessAt).toBeUndefined();
    expect(() => tracker.status()).toThrow(/vault sealed/);
  });
});

describe('KeyStateTracker when healthy', () => {
  it('reports v2, healthz "ok" and the backend’s current key_id, probing wrap+unwrap once', async () => {
    const h = await tracker.refresh(aSignal());
    const current = await backend.inner.currentVersion(aSignal());
    expect(h).toEqual({ healthy: true, lastSuccessAt: clock.now(), checkedAt: clock.now() });
    expect(tracker.status()).toEqual({ version: 'v2', healthz: 'ok', keyId: current.keyId });
    expect(tracker.writeVersion()).toEqual(current);
    expect(backend.calls).toEqual({ currentVersion: 1, wrap: 1, unwrap: 1 });
    expect(observer.onRefresh).toHaveBeenCalledWith(h, current);
  });

  it('turns healthz non-ok once the last success is older than probeMaxAge, keeping the key_id', async () => {
    await tracker.refresh(aSignal());
    const keyId = tracker.status().keyId;
    clock.advance(MAX_AGE);
    expect(tracker.status().healthz).toBe('ok');
    clock.advance(1);
    expect(tracker.status()).toEqual({ version: 'v2', healthz: 'backend health probe is overdue', keyId });
    await tracker.refresh(aSignal());
    expect(tracker.status().healthz).toBe('ok');
  });

  it('shares one run between concurrent refresh() calls, and runs again afterwards', async () => {
    const [a, b] = [tracker.refresh(aSignal()), tracker.refresh(aSignal())];
    expect(a).toBe(b);
    await Promise.all([a, b]);
    expect(backend.calls.currentVersion).toBe(1);
    await tracker.refresh(aSignal());
    expect(backend.calls.currentVersion).toBe(2);
  });

  it('calls onRotation once and logs at info when the key_id changes', async () => {
    await tracker.refresh(aSignal());
    const from = tracker.writeVersion();
    await backend.inner.rotate(aSignal());
    await tracker.refresh(aSignal());
    await tracker.refresh(aSignal());
    const to = tracker.writeVersion();
    expect(to.keyId).not.toBe(from.keyId);
    expect(observer.onRotation).toHaveBeenCalledTimes(1);
    expect(observer.onRotation).toHaveBeenCalledWith(from, to);
    const lines = log.lines.filter((l) => l.message === 'key rotation observed');
    expect(lines).toEqual([
      { level: 'info', message: 'key rotation observed', fields: { from: from.keyId, to: to.keyId } },
    ]);
  });
});

describe('KeyStateTracker on probe failures', () => {
  beforeEach(async () => {
    await tracker.refresh(aSignal());
    clock.advance(1_000);
  });

  it('a transient failure shows a short reason in healthz; key_id and writes stay', async () => {
    const keyId = tracker.status().keyId;
    backend.script.fail = new BackendUnavailableError(`connection refused ${'x'.repeat(500)}`);
    const h = await tracker.refresh(aSignal());
    expect(h.lastSuccessAt).toBe(clock.now() - 1_000);
    const s = tracker.status();
    expect(s.keyId).toBe(keyId);
    expect(s.healthz).not.toBe('ok');
    expect(s.healthz).toMatch(/^backend-unavailable: connection refused/);
    expect(s.healthz.length).toBeLessThanOrEqual(160);
    expect(tracker.writeVersion().keyId).toBe(keyId);
    expect(log.lines.some((l) => l.level === 'warn' && l.fields.kind === 'backend-unavailable')).toBe(true);
  });

  it('classifies a non-KmsError as backend-unavailable without echoing its text', async () => {
    backend.script.fail = new Error('socket hang up token=s.abcdef');
    await tracker.refresh(aSignal());
    expect(tracker.status().healthz).toBe('backend-unavailable: backend probe failed');
  });

  it.each([
    ['BackendMisconfiguredError', new BackendMisconfiguredError('permission denied')],
    ['KeyUnusableError', new KeyUnusableError('key disabled')],
  ])('%s stops writes: status() and writeVersion() reject until a refresh succeeds', async (_name, err) => {
    backend.script.fail = err;
    await tracker.refresh(aSignal());
    expect(() => tracker.status()).toThrow(err);
    expect(() => tracker.writeVersion()).toThrow(err);
    backend.script.fail = undefined;
    await tracker.refresh(aSignal());
    expect(tracker.status().healthz).toBe('ok');
  });

  it('keeps writes stopped through a later transient failure (only a success clears the latch)', async () => {
    backend.script.fail = new BackendMisconfiguredError('PIN incorrect');
    await tracker.refresh(aSignal());
    backend.script.fail = new BackendUnavailableError('connection refused');
    await tracker.refresh(aSignal());
    expect(() => tracker.writeVersion()).toThrow(BackendMisconfiguredError);
    expect(() => tracker.status()).toThrow(BackendMisconfiguredError);
  });

  it('a probe that returns different bytes is KeyUnusableError and stops writes', async () => {
    backend.script.corrupt = true;
    const h = await tracker.refresh(aSignal());
    expect(h.reason).toMatch(/^key-unusable: backend probe returned different bytes/);
    expect(() => tracker.status()).toThrow(KeyUnusableError);
  });

  it('a backend that ignores the signal cannot hold refresh() forever', async () => {
    backend.script.hang = true;
    const h = await Promise.race([
      tracker.refresh(AbortSignal.timeout(50)),
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), 1_000)),
    ]);
    expect(h).not.toBe('hung');
    backend.script.hang = false;
    await tracker.refresh(aSignal()); // a new run, not the hung one
    expect(backend.calls.currentVersion).toBe(3);
  });
});
