import { BackendUnavailableError, KeyUnusableError, KmsError, stopsWrites } from '../model/errors.js';
import { HEALTHZ_OK, KMS_API_VERSION, type BackendHealth, type StatusReport } from '../model/health.js';
import type { KeyVersion } from '../model/key-version.js';
import { abortable } from './abortable.js';
import type { Clock } from '../../ports/outbound/clock.port.js';
import type { KeyWrapper } from '../../ports/outbound/key-wrapper.port.js';
import type { Logger } from '../../ports/outbound/logger.port.js';

/**
 * Failures of live calls that say something about the backend itself (not
 * about the caller's input or deadline); they ask for an early probe.
 */
const BACKEND_KINDS: ReadonlySet<KmsError['kind']> = new Set([
  'backend-unavailable',
  'backend-throttled',
  'backend-misconfigured',
  'key-unusable',
]);

/** A fixed probe seed: it is wrapped and unwrapped, never stored. */
const PROBE_SEED = new Uint8Array(32).fill(0x5a);
const MAX_REASON = 160;

export interface KeyStateObserver {
  onRefresh?(health: BackendHealth, current: KeyVersion | undefined): void;
  onRotation?(from: KeyVersion, to: KeyVersion): void;
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
   * bad request must not flip healthz), but a backend error asks the listener
   * (the refresh loop) for an early probe, so an outage shows in Status at
   * once instead of at the next periodic refresh.
   */
  suspect(err: unknown): void {
    if (err instanceof KmsError && BACKEND_KINDS.has(err.kind)) this.suspectListener?.();
  }

  /** Who runs the early probe that suspect() asks for; undefined to stop. */
  onSuspect(listener: (() => void) | undefined): void {
    this.suspectListener = listener;
  }

  /** The cached Status answer. Rejects when writes must stop (kubernetes#138950). */
  status(): StatusReport {
    const current = this.writeVersion();
    const h = this.health;
    const fresh = h.lastSuccessAt !== undefined && this.clock.now() - h.lastSuccessAt <= this.probeMaxAgeMs;
    const healthz = h.healthy && fresh ? HEALTHZ_OK : (h.reason ?? 'backend health probe is overdue');
    return { version: KMS_API_VERSION, healthz, keyId: current.keyId };
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

  private async doRefresh(signal: AbortSignal): Promise<BackendHealth> {
    const checkedAt = this.clock.now();
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
    }
    this.observer.onRefresh?.(this.health, this.current);
    return this.health;
  }
}

/** Cuts a reason at a word boundary so healthz stays short and readable. */
function shorten(reason: string): string {
  if (reason.length <= MAX_REASON) return reason;
  const cut = reason.slice(0, MAX_REASON - 1);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), MAX_REASON / 2))}…`;
}
