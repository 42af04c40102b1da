import { BackendUnavailableError, KeyUnusableError, KmsError, stopsWrites } from '../model/errors.js';
import { HEALTHZ_OK, KMS_API_VERSION, type BackendHealth, type StatusReport } from '../model/health.js';
import type { KeyVersion } from '../model/key-version.js';
import { abortable } from './abortable.js';
import type { Clock, Timer } from '../../ports/outbound/clock.port.js';
import type { KeyWrapper } from '../../ports/outbound/key-wrapper.port.js';
import type { Logger } from '../../ports/outbound/logger.port.js';

/**
 * Failures of live calls that may say something about the backend itself
 * (not about the caller's input); they ask for an early probe. A deadline
 * that passed while kleidi waited for the backend is one of them: a hung
 * backend whose calls never end by themselves shows up as nothing else. A
 * caller that sets a needlessly short deadline costs at most one probe a
 * second (RefreshLoop), and the probe, not the call, decides health.
 */
const SUSPECT_KINDS: ReadonlySet<KmsError['kind']> = new Set([
  'backend-unavailable',
  'backend-throttled',
  'backend-misconfigured',
  'key-unusable',
  'deadline-exceeded',
]);

/**
 * After a suspect failure, the probe that answers it has this long to succeed
 * before Status reports the backend as down (the probe itself runs on, to its
 * own budget, and clears health again if it succeeds). It is kube-apiserver's
 * default KMS call timeout (3 s, the `timeout` field of EncryptionConfiguration,
 * https://kubernetes.io/docs/tasks/administer-cluster/kms-provider/): a
 * backend that cannot complete a probe in the time one live call is given is
 * not serving the apiserver. A healthy backend answers a probe in
 * milliseconds; a slow machine alone reaches 3 s only by stalling kleidi's
 * event loop that long, when Status itself would miss its deadline anyway.
 */
const SUSPECT_PROBE_TIMEOUT_MS = 3_000;

/** A fixed probe seed: it is wrapped and unwrapped, never stored. */
const PROBE_SEED = new Uint8Array(32).fill(0x5a);
const MAX_REASON = 160;

export interface KeyStateObserver {
  onRefresh?(health: BackendHealth, current: KeyVersion | undefined): void;
  onRotation?(from: KeyVersion, to: KeyVersion): void;
  /**
   * The probe that answers a failed call has not passed in time: Status now
   * reports the backend down while that probe still runs (its own result
   * arrives later through onRefresh).
   */
  onOverdue?(health: BackendHealth): void;
}

/**
 * Holds the current key version and the backend's health, refreshed in the
 * background, so Status never costs a backend round trip (kube-apiserver
 * calls it about every 20 s per instance, kubernetes#127748).
 */
export class KeyStateTracker {
  private current: KeyVersion | undefined;
  private health: BackendHealth = { healthy: false, reason: 'not checked yet' };
  private latched: KmsError | undefined;
  private inFlight: Promise<BackendHealth> | undefined;
  private suspectListener: (() => void) | undefined;
  /** Monotonic time of the last successful probe's start: freshness must not follow wall-clock steps. */
  private lastSuccessMono: number | undefined;
  /** Probes started so far; tells a probe started after a suspicion from one already under way. */
  private probes = 0;
  /** An unanswered suspicion: what failed, and how many probes had started by then. */
  private suspicion: { readonly kind: KmsError['kind']; readonly probesBefore: number; logged?: true } | undefined;
  /** Since when the probe that decides the suspicion has been running (monotonic); its timeout counts from here. */
  private verdictFrom: number | undefined;
  private verdictTimer: Timer | undefined;

  constructor(
    private readonly wrapper: KeyWrapper,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** healthz turns non-ok when the last successful probe is older than this. */
    private readonly probeMaxAgeMs: number,
    private readonly observer: KeyStateObserver = {},
  ) {}

  /** Reads the current version and runs a wrap/unwrap probe. Concurrent calls share one run. */
  refresh(signal: AbortSignal): Promise<BackendHealth> {
    this.inFlight ??= this.doRefresh(signal).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /**
   * A live wrap or unwrap failed. Health is still decided by probes only (one
   * failed call must not flip healthz), but a backend error asks the listener
   * (the refresh loop) for an early probe, so an outage shows in Status at
   * once instead of at the next periodic refresh. Until a probe started after
   * this failure succeeds, the suspicion stands: a probe that fails turns
   * health down at once, and one that has not succeeded within
   * SUSPECT_PROBE_TIMEOUT_MS of its start turns Status non-ok while it runs
   * on (a hung backend, whose probe would otherwise hold health "ok" for its
   * whole budget).
   */
  suspect(err: unknown): void {
    if (!(err instanceof KmsError && SUSPECT_KINDS.has(err.kind))) return;
    if (!this.suspicion) {
      this.suspicion = { kind: err.kind, probesBefore: this.probes };
      // A probe already under way must answer in time too: a hung one would otherwise hold health to its budget.
      if (this.inFlight) this.startVerdict(this.clock.monotonic());
    }
    this.suspectListener?.();
  }

  /** Who runs the early probe that suspect() asks for; undefined to stop. */
  onSuspect(listener: (() => void) | undefined): void {
    this.suspectListener = listener;
  }

  /**
   * The cached Status answer: no backend call, only clock arithmetic (on the
   * monotonic clock, so setting the wall clock neither ages nor freshens a
   * probe). Rejects when writes must stop (kubernetes#138950).
   */
  status(): StatusReport {
    const current = this.writeVersion();
    return { version: KMS_API_VERSION, healthz: this.healthz(), keyId: current.keyId };
  }

  /** The version Encrypt must use: the one Status reports. */
  writeVersion(): KeyVersion {
    if (this.latched) throw this.latched;
    if (!this.current) {
      throw new BackendUnavailableError(`no key-encryption key available yet: ${this.health.reason ?? 'unknown'}`);
    }
    return this.current;
  }

  snapshot(): { health: BackendHealth; current: KeyVersion | undefined } {
    return { health: this.health, current: this.current };
  }

  /** True while a suspect failure waits for a probe started after it (RefreshLoop runs one). */
  suspected(): boolean {
    return this.suspicion !== undefined;
  }

  private healthz(): string {
    const h = this.health;
    if (!h.healthy) return h.reason ?? 'backend health probe is overdue';
    const now = this.clock.monotonic();
    if (this.lastSuccessMono === undefined || now - this.lastSuccessMono > this.probeMaxAgeMs) {
      return 'backend health probe is overdue';
    }
    const s = this.suspicion;
    if (s && this.verdictFrom !== undefined && now - this.verdictFrom > SUSPECT_PROBE_TIMEOUT_MS) {
      const secs = SUSPECT_PROBE_TIMEOUT_MS / 1000;
      if (!s.logged) {
        s.logged = true;
        this.log.warn(
          { kind: s.kind, timeoutMs: SUSPECT_PROBE_TIMEOUT_MS },
          'backend health probe not answered in time',
        );
      }
      return `deadline-exceeded: the backend did not pass a health probe within ${secs} s after a call failed (${s.kind})`;
    }
    return HEALTHZ_OK;
  }

  private async doRefresh(signal: AbortSignal): Promise<BackendHealth> {
    const checkedAt = this.clock.now();
    const started = this.clock.monotonic();
    const seq = ++this.probes;
    // A probe started after a suspicion is the one whose answer, or lack of one, decides it.
    if (this.suspicion) this.startVerdict(started);
    try {
      // abortable: a backend that ignores the signal must not hold the refresh (and health) forever.
      const w = this.wrapper;
      const version = await abortable(w.currentVersion(signal), signal);
      const wrapped = await abortable(w.wrap(PROBE_SEED, version, signal), signal);
      const back = await abortable(w.unwrap(wrapped, signal), signal);
      if (back.length !== PROBE_SEED.length || !back.every((b, i) => b === PROBE_SEED[i])) {
        throw new KeyUnusableError('backend probe returned different bytes than it wrapped');
      }
      const previous = this.current;
      if (previous && previous.keyId !== version.keyId) {
        this.log.info({ from: previous.keyId, to: version.keyId }, 'key rotation observed');
        this.observer.onRotation?.(previous, version);
      }
      if (!this.health.healthy && this.health.checkedAt !== undefined) {
        this.log.info({ keyId: version.keyId }, 'backend healthy again');
      }
      this.current = version;
      this.latched = undefined;
      this.health = { healthy: true, lastSuccessAt: checkedAt, checkedAt };
      this.lastSuccessMono = started;
      // Only a probe that started after the failure speaks for the backend since then; for an
      // older one the suspicion stands, and RefreshLoop starts the next probe at once.
      if (this.suspicion && seq > this.suspicion.probesBefore) this.clearSuspicion();
      else if (this.suspicion) this.stopVerdict();
    } catch (err) {
      const e = err instanceof KmsError ? err : new BackendUnavailableError('backend probe failed', { cause: err });
      // Writes stay stopped until a refresh succeeds; a later transient error must not reopen them.
      if (stopsWrites(e)) this.latched = e;
      const reason = shorten(`${e.kind}: ${e.message}`);
      const h: BackendHealth = { healthy: false, reason, checkedAt };
      // Warn on a change of state; repeats of the same failure every refresh go to debug.
      const changed = this.health.healthy || this.health.reason !== reason;
      this.health = this.health.lastSuccessAt === undefined ? h : { ...h, lastSuccessAt: this.health.lastSuccessAt };
      if (changed) this.log.warn({ kind: e.kind, err: e }, 'backend health probe failed');
      else this.log.debug({ kind: e.kind }, 'backend health probe still failing');
      // The failed probe now speaks for the backend; a later suspicion starts afresh.
      this.clearSuspicion();
    }
    this.observer.onRefresh?.(this.health, this.current);
    return this.health;
  }

  private clearSuspicion(): void {
    this.suspicion = undefined;
    this.stopVerdict();
  }

  /**
   * Starts the 3 s the deciding probe has, and a timer that tells the
   * observer (the metrics) when they run out, so `kleidi_backend_healthy`
   * drops when Status does rather than when a hung probe finally gives up.
   */
  private startVerdict(from: number): void {
    this.stopVerdict();
    this.verdictFrom = from;
    this.verdictTimer = this.clock.setTimer(SUSPECT_PROBE_TIMEOUT_MS + 1, () => {
      this.verdictTimer = undefined;
      if (this.suspicion && this.verdictFrom === from) {
        this.observer.onOverdue?.({
          healthy: false,
          reason: this.healthz(),
          checkedAt: this.clock.now(),
          ...this.lastSuccess(),
        });
      }
    });
  }

  private stopVerdict(): void {
    this.verdictFrom = undefined;
    this.verdictTimer?.cancel();
    this.verdictTimer = undefined;
  }

  private lastSuccess(): { lastSuccessAt?: number } {
    return this.health.lastSuccessAt === undefined ? {} : { lastSuccessAt: this.health.lastSuccessAt };
  }
}

/** Cuts a reason at a word boundary so healthz stays short and readable. */
function shorten(reason: string): string {
  if (reason.length <= MAX_REASON) return reason;
  const cut = reason.slice(0, MAX_REASON - 1);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), MAX_REASON / 2))}…`;
}
