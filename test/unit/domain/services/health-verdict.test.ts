import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackendUnavailableError, DeadlineExceededError } from '#src/domain/model/errors.js';
import { EnvelopeService } from '#src/domain/services/envelope-service.js';
import { KeyStateTracker } from '#src/domain/services/key-state-tracker.js';
import { RefreshLoop } from '#src/domain/services/refresh-loop.js';
import { aDataKey, aSignal, type LogLine, recordingLogger } from '../../../support/builders.js';
import { FakeClock } from '../../../support/fake-clock.js';
import { scriptedWrapper } from './scripted-wrapper.js';

/**
 * How soon Status follows a backend that stops answering, and that it does
 * not follow a single failed call. Status never calls the backend: a failed
 * live call starts a probe (RefreshLoop), and health goes down as soon as
 * that probe fails or has not succeeded within 3 s.
 */
const INTERVAL = 10_000; // the default refresh interval; the refresh budget is then 10 s too
/** kube-apiserver's default KMS call timeout: the time a probe gets once a call has failed. */
const PROBE_TIMEOUT = 3_000;
const MAX_AGE = 30_000;
let clock: FakeClock;
let backend: ReturnType<typeof scriptedWrapper>;
let tracker: KeyStateTracker;
let service: EnvelopeService;
let loop: RefreshLoop;
let lines: LogLine[];
/** What the metrics see: each health the tracker reports to its observer, in order. */
let observed: string[];

beforeEach(async () => {
  clock = new FakeClock();
  backend = scriptedWrapper();
  lines = [];
  observed = [];
  tracker = new KeyStateTracker(backend.wrapper, clock, recordingLogger(lines), MAX_AGE, {
    onRefresh: (h) => void observed.push(h.healthy ? 'refresh ok' : `refresh down`),
    onOverdue: (h) => void observed.push(`overdue ${h.healthy} ${h.reason ?? ''}`),
  });
  service = new EnvelopeService(backend.wrapper, tracker);
  loop = new RefreshLoop(tracker, INTERVAL, clock, recordingLogger());
  await loop.first();
  loop.start();
  await clock.advanceAsync(2_000); // mid-interval, well past the early-probe spacing
});
afterEach(async () => {
  backend.script.hang = false;
  backend.script.fail = undefined;
  const stopped = loop.stop();
  await clock.advanceAsync(INTERVAL); // cuts off a refresh a test left hanging
  await stopped;
});

const healthz = () => tracker.status().healthz;

/** A live Encrypt on the backend as it is now; resolves with what the caller got. */
function liveEncrypt(signal = aSignal()): Promise<unknown> {
  return service.encrypt({ uid: 'u', plaintext: aDataKey() }, signal).then(
    () => 'ok',
    (e: unknown) => e,
  );
}

/** A signal the fake clock aborts after `ms`, as the gRPC edge does when the caller's deadline passes. */
function deadline(ms: number): AbortSignal {
  const c = new AbortController();
  clock.setTimer(ms, () => c.abort(new DeadlineExceededError('deadline exceeded')));
  return c.signal;
}

/**
 * The next live wrap fails with `err`, once; the backend is otherwise as
 * scripted. (Setting script.fail would fail the probe that this failure
 * starts, too: the probe's first call comes before the test can reset it.)
 */
function failNextWrap(err: unknown): void {
  const { wrap } = backend.wrapper;
  backend.wrapper.wrap = () => {
    backend.wrapper.wrap = wrap;
    return Promise.reject(err);
  };
}

/** Makes every backend call wait `ms` of fake time before answering normally. */
function slowBackend(ms: number): void {
  const wait = () => new Promise<void>((r) => clock.setTimer(ms, r));
  const w = backend.wrapper;
  const { currentVersion, wrap, unwrap } = { ...w };
  w.currentVersion = (s) => wait().then(() => currentVersion(s));
  w.wrap = (seed, v, s) => wait().then(() => wrap(seed, v, s));
  w.unwrap = (x, s) => wait().then(() => unwrap(x, s));
}

describe('a hung backend turns Status non-ok within seconds of a failed call', () => {
  it('a call failing for a backend reason starts a probe; when that probe hangs, Status goes down after the probe timeout, not the refresh budget', async () => {
    failNextWrap(new BackendUnavailableError('attempt timed out')); // the live call's own budget ran out
    backend.script.hang = true; // and the probe it starts gets no answer at all
    expect(await liveEncrypt()).toBeInstanceOf(BackendUnavailableError);
    await clock.advanceAsync(PROBE_TIMEOUT);
    expect(backend.calls.currentVersion).toBe(2); // startup + the early probe, now hanging
    expect(healthz()).toBe('ok');
    await clock.advanceAsync(1);
    expect(healthz()).toBe(
      'deadline-exceeded: the backend did not pass a health probe within 3 s after a call failed (backend-unavailable)',
    );
    // The metrics learn it when Status does, not when the hung probe finally gives up.
    expect(observed.filter((o) => o.startsWith('overdue'))).toEqual([
      'overdue false deadline-exceeded: the backend did not pass a health probe within 3 s after a call failed (backend-unavailable)',
    ]);
    expect(() => tracker.writeVersion()).not.toThrow(); // an outage is reported, writes are not stopped
    healthz();
    const warned = lines.filter((l) => l.message === 'backend health probe not answered in time');
    expect(warned).toEqual([
      {
        level: 'warn',
        message: 'backend health probe not answered in time',
        fields: { kind: 'backend-unavailable', timeoutMs: 3_000 },
      },
    ]);
  });

  it("a call that runs into the caller's deadline on a hung backend starts a probe too", async () => {
    backend.script.hang = true;
    const call = liveEncrypt(deadline(3_000)); // kube-apiserver's default KMS timeout
    await clock.advanceAsync(3_000);
    expect(await call).toBeInstanceOf(DeadlineExceededError);
    expect(backend.calls.currentVersion).toBe(2); // the early probe started at once
    await clock.advanceAsync(PROBE_TIMEOUT + 1);
    expect(healthz()).toMatch(/^deadline-exceeded: .*after a call failed \(deadline-exceeded\)$/);
  });

  it('a periodic probe already hanging when the call fails must answer within the probe timeout of the failure', async () => {
    backend.script.hang = true;
    await clock.advanceAsync(INTERVAL - 2_000); // the periodic refresh starts and hangs
    expect(backend.calls.currentVersion).toBe(2);
    await clock.advanceAsync(1_000);
    failNextWrap(new BackendUnavailableError('attempt timed out'));
    expect(await liveEncrypt()).toBeInstanceOf(BackendUnavailableError);
    await clock.advanceAsync(PROBE_TIMEOUT);
    expect(healthz()).toBe('ok');
    await clock.advanceAsync(1);
    expect(healthz()).toMatch(/^deadline-exceeded: /);
  });

  it('a probe that fails turns health down at once, with its own reason', async () => {
    backend.script.fail = new BackendUnavailableError('Vault is sealed');
    await liveEncrypt();
    await clock.advanceAsync(0);
    expect(healthz()).toBe('backend-unavailable: Vault is sealed');
  });

  it('comes back as soon as a probe succeeds', async () => {
    backend.script.hang = true;
    const call = liveEncrypt(deadline(3_000));
    await clock.advanceAsync(3_000 + PROBE_TIMEOUT + 1);
    expect(await call).toBeInstanceOf(DeadlineExceededError);
    expect(healthz()).not.toBe('ok');
    backend.script.hang = false;
    await clock.advanceAsync(INTERVAL); // the hung probe's budget ends; the next probe, a second later, succeeds
    expect(healthz()).toBe('ok');
  });
});

describe('Status does not flap on a single transient failure', () => {
  it('one failed call whose probe succeeds never shows in Status', async () => {
    failNextWrap(new BackendUnavailableError('connection reset')); // one call fails; the backend is fine
    expect(await liveEncrypt()).toBeInstanceOf(BackendUnavailableError);
    const seen = new Set<string>();
    for (let t = 0; t < 3 * PROBE_TIMEOUT; t += 100) {
      seen.add(healthz());
      await clock.advanceAsync(100);
    }
    expect([...seen]).toEqual(['ok']);
    expect(observed.filter((o) => o.startsWith('overdue'))).toEqual([]);
    expect(backend.calls.currentVersion).toBe(2); // one early probe, no more
    expect(tracker.suspected()).toBe(false);
  });

  it('a slow but answering backend keeps health ok: a probe under the timeout is a pass', async () => {
    slowBackend(900); // each of the probe's three calls takes 0.9 s: 2.7 s in all
    failNextWrap(new BackendUnavailableError('one attempt timed out'));
    expect(await liveEncrypt()).toBeInstanceOf(BackendUnavailableError);
    const seen = new Set<string>();
    for (let t = 0; t < 2 * PROBE_TIMEOUT; t += 100) {
      seen.add(healthz());
      await clock.advanceAsync(100);
    }
    expect([...seen]).toEqual(['ok']);
  });

  it('a burst of failures still costs at most one probe a second', async () => {
    backend.script.fail = new BackendUnavailableError('connection reset');
    const before = backend.calls.currentVersion;
    for (let i = 0; i < 100; i++) {
      await liveEncrypt();
      await clock.advanceAsync(20);
    }
    expect(backend.calls.currentVersion - before).toBeLessThanOrEqual(3);
  });
});

describe('an early probe is deferred, never dropped', () => {
  it('a failure less than a second after a probe started gets its probe when the spacing is up', async () => {
    await clock.advanceAsync(INTERVAL - 2_000); // the periodic probe runs now and succeeds
    expect(backend.calls.currentVersion).toBe(2);
    await clock.advanceAsync(200);
    backend.script.fail = new BackendUnavailableError('Vault is sealed');
    await liveEncrypt();
    await clock.advanceAsync(799);
    expect(backend.calls.currentVersion).toBe(2);
    await clock.advanceAsync(1);
    expect(backend.calls.currentVersion).toBe(3);
    expect(healthz()).toBe('backend-unavailable: Vault is sealed');
  });

  it('a failure while a probe runs gets a probe of its own after it when that one succeeds', async () => {
    let release = (): void => undefined;
    const held = new Promise<void>((r) => (release = r));
    const inner = backend.wrapper.currentVersion;
    backend.wrapper.currentVersion = async (signal) => {
      await held;
      return inner(signal);
    };
    await clock.advanceAsync(INTERVAL - 2_000); // the periodic probe starts and waits
    backend.script.fail = new BackendUnavailableError('Vault is sealed');
    await liveEncrypt(); // fails while that probe is under way
    backend.wrapper.currentVersion = inner;
    backend.script.fail = undefined;
    release(); // the earlier probe succeeds: it started before the failure, so it does not clear it
    await clock.advanceAsync(0);
    expect(tracker.suspected()).toBe(true);
    backend.script.fail = new BackendUnavailableError('Vault is sealed');
    await clock.advanceAsync(1_000);
    expect(healthz()).toBe('backend-unavailable: Vault is sealed');
  });
});

describe('health does not flap because a rotation is in progress', () => {
  it('stays ok while the key rotates between and during probes, with live calls on both keys', async () => {
    const seen = new Set<string>();
    const inner = backend.wrapper.currentVersion;
    let rotateMidProbe = false;
    backend.wrapper.currentVersion = async (signal) => {
      const v = await inner(signal);
      // Rotate after the probe read the current version and before it wraps with it.
      if (rotateMidProbe) await backend.inner.rotate(signal);
      return v;
    };
    const old = await service.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal());
    for (let round = 0; round < 6; round++) {
      rotateMidProbe = round % 2 === 0;
      for (let t = 0; t < INTERVAL; t += 250) {
        seen.add(healthz());
        const fresh = await service.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal());
        await service.decrypt({ uid: 'u', ...fresh }, aSignal());
        await service.decrypt({ uid: 'u', ...old }, aSignal());
        await clock.advanceAsync(250);
      }
    }
    expect([...seen]).toEqual(['ok']);
    expect(tracker.writeVersion().keyId).not.toBe(old.keyId);
  });
});

describe('probe freshness runs on the monotonic clock', () => {
  const HOUR = 3_600_000;
  let fake: FakeClock;
  let t: KeyStateTracker;
  beforeEach(async () => {
    fake = new FakeClock();
    t = new KeyStateTracker(scriptedWrapper().wrapper, fake, recordingLogger(), MAX_AGE);
    await t.refresh(aSignal());
  });

  it('a wall clock set an hour ahead does not make a fresh probe overdue', () => {
    fake.stepWall(HOUR);
    expect(t.status().healthz).toBe('ok');
  });

  it('a wall clock set an hour back does not keep a stale probe fresh', () => {
    fake.stepWall(-HOUR);
    fake.advance(MAX_AGE + 1);
    expect(t.status().healthz).toBe('backend health probe is overdue');
  });
});
