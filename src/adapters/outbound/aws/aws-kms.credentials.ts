import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { Backoff } from '../shared/backoff.js';

/** The credential fields the SDK signs with (AwsCredentialIdentity); never logged. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/**
 * A credential source such as the SDK's default chain; `forceRefresh` skips
 * its own cache. The SDK passes further options (the calling client's
 * config, from which web-identity and SSO sources take their Region); they
 * are handed through.
 */
export type SourceOptions = Readonly<Record<string, unknown>> & { readonly forceRefresh?: boolean };
export type CredentialSource = (options?: SourceOptions) => Promise<AwsCredentials>;

export interface RefreshPolicy {
  /** Refresh when less than this much of the lifetime remains, at the latest `maxMarginMs` before expiry. */
  readonly fraction: number;
  readonly maxMarginMs: number;
  /** Below this much remaining life a call waits for new credentials instead of using the old ones. */
  readonly minRemainingMs: number;
  /** Pause after a failed background refresh before the next try; doubles up to maxBackoffMs. */
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
}

/**
 * The SDK refreshes credentials five minutes before they expire
 * (@smithy/core EXPIRATION_MS); kleidi starts at a third of the remaining
 * lifetime or five minutes, whichever is earlier, so short-lived credentials
 * (down to STS's 15-minute minimum, or shorter in tests) also renew early.
 */
const DEFAULT_REFRESH: RefreshPolicy = {
  fraction: 1 / 3,
  maxMarginMs: 5 * 60_000,
  minRemainingMs: 5_000,
  minBackoffMs: 1_000,
  maxBackoffMs: 30_000,
};

interface Held {
  readonly creds: AwsCredentials;
  readonly obtainedAt: number;
}

/**
 * Holds the credentials the KMS client signs with and renews expiring ones in
 * the background, before they expire, while calls keep using the current
 * ones: a call waits for a fetch only when nothing usable is held. A failed
 * background refresh is logged and retried with backoff; the old credentials
 * stay in use until they are about to expire. Calls coalesce into one fetch.
 */
export class RefreshingCredentials {
  private held: Held | undefined;
  private inFlight: Promise<AwsCredentials> | undefined;
  /** Pause after failed background refreshes, on the monotonic clock. */
  private readonly backoff: Backoff;
  private failures = 0;
  private refreshes = 0;
  private options: SourceOptions = {};

  constructor(
    private readonly source: CredentialSource,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly policy: RefreshPolicy = DEFAULT_REFRESH,
  ) {
    this.backoff = new Backoff({ minMs: policy.minBackoffMs, maxMs: policy.maxBackoffMs }, clock);
  }

  /**
   * The SDK's credential provider. `memoized` tells the SDK not to wrap it in
   * its own cache (which would hide a forced refresh for up to five minutes).
   */
  provider(): CredentialSource & { memoized: true } {
    return Object.assign(
      (options?: SourceOptions) => {
        if (options) this.options = { ...options, forceRefresh: false };
        return this.get(options?.forceRefresh === true);
      },
      { memoized: true as const },
    );
  }

  /** Current credentials; starts a background refresh when they are due. */
  async get(force = false): Promise<AwsCredentials> {
    if (force) return this.fetch(true);
    const h = this.held;
    if (!h) return this.fetch(false);
    const exp = h.creds.expiration?.getTime();
    if (exp === undefined) return h.creds; // static credentials: nothing to renew
    const now = this.clock.now();
    const remaining = exp - now;
    if (remaining > this.margin(h)) return h.creds;
    if (remaining > this.policy.minRemainingMs) {
      if (this.backoff.remainingMs() === 0) void this.fetch(true).catch(() => undefined);
      return h.creds;
    }
    try {
      return await this.fetch(true);
    } catch (err) {
      if (remaining > 0) return h.creds; // still valid for a moment: better than failing the call
      throw err;
    }
  }

  /** Fetches new credentials now (after AWS refused the current ones). */
  forceRefresh(): Promise<AwsCredentials> {
    return this.fetch(true);
  }

  /** When the held credentials expire (ms since the epoch); undefined for static ones or none. */
  expiresAt(): number | undefined {
    return this.held?.creds.expiration?.getTime();
  }

  /** Secret-free state for health details. */
  state(): { expiresAt?: string; refreshes: number; failedRefreshes: number } {
    const at = this.expiresAt();
    return {
      ...(at !== undefined ? { expiresAt: new Date(at).toISOString() } : {}),
      refreshes: this.refreshes,
      failedRefreshes: this.failures,
    };
  }

  private margin(h: Held): number {
    const exp = h.creds.expiration?.getTime() ?? Number.POSITIVE_INFINITY;
    const lifetime = Math.max(0, exp - h.obtainedAt);
    return Math.min(this.policy.maxMarginMs, lifetime * this.policy.fraction);
  }

  private fetch(force: boolean): Promise<AwsCredentials> {
    this.inFlight ??= this.source({ ...this.options, forceRefresh: force })
      .then((creds) => {
        const previous = this.held;
        this.held = { creds, obtainedAt: this.clock.now() };
        if (previous) this.refreshes++;
        this.failures = 0;
        this.backoff.reset();
        const exp = creds.expiration?.toISOString();
        // SECURITY: only the expiry is logged, never a key id, secret or session token.
        this.log.debug(
          exp ? { expiresAt: exp } : {},
          previous ? 'AWS credentials refreshed' : 'AWS credentials loaded',
        );
        return creds;
      })
      .catch((err: unknown) => {
        this.failures++;
        this.backoff.fail();
        const expiresAt = this.held?.creds.expiration?.toISOString();
        this.log.warn(
          { reason: reasonOf(err), failures: this.failures, ...(expiresAt ? { currentExpiresAt: expiresAt } : {}) },
          'could not refresh AWS credentials; the current ones stay in use until they expire',
        );
        throw err;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}

/** The error's name and message only: credential providers never put secrets there, but never their whole object. */
function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  const msg = err.message.replace(/\s+/g, ' ').trim();
  return `${err.name}: ${msg.length > 160 ? `${msg.slice(0, 160)}…` : msg}`;
}
