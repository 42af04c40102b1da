import { BackendUnavailableError, KmsError } from '../../../domain/model/errors.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { Backoff } from '../shared/backoff.js';
import type { VaultAuth } from './vault-transit.auth.js';
import type { VaultTransitClient } from './vault-transit.client.js';
import { classifyFailure, isPermissionDenied, toKmsError } from './vault-transit.errors.js';
import { parseAuth } from './vault-transit.responses.js';
import { filesStamp } from './vault-transit.files.js';
import { expiry, type HeldToken, type RenewerOptions, type VaultTokenState } from './vault-transit.token.js';

/**
 * Owns kleidi's Vault token: logs in lazily, renews at about 2/3 of the TTL on
 * its own timer (independent of apiserver traffic), logs in again on expiry
 * or when Vault refuses the token, and spaces logins with exponential backoff
 * so a broken credential never turns into a login storm.
 */
export class VaultTokenRenewer {
  private held: HeldToken | undefined;
  private loginInFlight: Promise<string> | undefined;
  /** Spaces logins: a pause starts with each login, as long as the problems since the last success call for. */
  private readonly gate: Backoff;
  private lastError: KmsError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private logins = 0;
  private renewals = 0;
  private closed = false;
  /** filesStamp() of the credential files when the last login read them. */
  private stampAtLogin: string | undefined;

  constructor(
    private readonly auth: VaultAuth,
    private readonly client: VaultTransitClient,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: RenewerOptions,
  ) {
    this.gate = new Backoff({ minMs: opts.minBackoffMs, maxMs: opts.maxBackoffMs }, clock);
  }

  /** The token to use now; logs in when none is held or it has expired. */
  async token(signal: AbortSignal): Promise<string> {
    const h = this.held;
    if (h && (h.expiresAt === undefined || this.clock.monotonic() < h.expiresAt)) return h.token.token;
    return this.login(signal);
  }

  /**
   * Called after Vault refused `stale` with 403. Returns the token to retry
   * with: one another caller already obtained, or a fresh login's. A token
   * that has worked before was revoked or expired, so it is replaced at once;
   * a token that never worked is refused by policy, so another login waits
   * for the backoff (returns undefined meanwhile).
   */
  async replace(stale: string, signal: AbortSignal): Promise<string | undefined> {
    const h = this.held;
    if (h && h.token.token !== stale) return h.token.token;
    if (this.loginInFlight) return this.loginInFlight;
    if (!h?.proven && this.gate.remainingMs() > 0 && !(await this.credentialsChanged())) {
      this.gate.noteFailure();
      return undefined;
    }
    this.held = undefined;
    return this.login(signal, true);
  }

  /**
   * Whether an operator changed a credential file since the last login read
   * it. A replaced token or secret_id is then tried at once instead of after
   * the backoff (up to maxBackoffMs), so recovery does not wait on a timer.
   */
  async credentialsChanged(): Promise<boolean> {
    if (this.auth.credentialFiles.length === 0 || this.stampAtLogin === undefined) return false;
    return (await filesStamp(this.auth.credentialFiles)) !== this.stampAtLogin;
  }

  /** An authenticated call with `token` succeeded: credential and policy work, so backoff starts over. */
  noteSuccess(token: string): void {
    if (this.held?.token.token === token) this.held.proven = true;
    this.gate.forgetFailures();
    this.lastError = undefined;
  }

  state(): VaultTokenState {
    const h = this.held;
    return {
      method: this.auth.method,
      ...(h?.expiresAt !== undefined ? { tokenExpiresAt: this.wallTime(h.expiresAt) } : {}),
      ...(h ? { renewable: h.token.renewable } : {}),
      logins: this.logins,
      renewals: this.renewals,
      ...(this.lastError ? { lastError: this.lastError.message } : {}),
    };
  }

  /**
   * A monotonic instant as wall time, for health details: the expiry is kept
   * on the monotonic clock (computed from the TTL Vault gave), so setting the
   * wall clock neither expires a valid token early nor keeps an expired one.
   */
  private wallTime(monotonicAt: number): string {
    return new Date(this.clock.now() + (monotonicAt - this.clock.monotonic())).toISOString();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.held = undefined;
  }

  private async login(signal: AbortSignal, replacingProven = false): Promise<string> {
    if (this.loginInFlight) return this.loginInFlight;
    if (!replacingProven && this.gate.remainingMs() > 0 && !(await this.credentialsChanged())) {
      throw this.lastError ?? new BackendUnavailableError('waiting before logging in to Vault again');
    }
    if (this.loginInFlight) return this.loginInFlight; // another caller started one while we checked
    this.gate.pause();
    this.loginInFlight = this.doLogin(signal).finally(() => (this.loginInFlight = undefined));
    return this.loginInFlight;
  }

  private async doLogin(signal: AbortSignal): Promise<string> {
    this.logins++;
    try {
      this.stampAtLogin = await filesStamp(this.auth.credentialFiles);
      const token = await this.auth.login(signal);
      const now = this.clock.monotonic();
      this.held = { token, proven: false, firstTtl: token.ttlSeconds, expiresAt: expiry(now, token) };
      this.log.info(
        { method: this.auth.method, ttlSeconds: token.ttlSeconds, renewable: token.renewable },
        'logged in to Vault',
      );
      this.schedule(token.ttlSeconds * 1_000 * this.opts.renewFraction);
      return token.token;
    } catch (err) {
      this.gate.noteFailure();
      this.lastError = err instanceof KmsError ? err : toKmsError(classifyFailure(err), 'Vault login');
      this.log.warn(
        { method: this.auth.method, kind: this.lastError.kind, reason: this.lastError.message },
        'Vault login failed',
      );
      throw this.lastError;
    }
  }

  /** Runs the next background step after `delayMs`; a TTL of 0 (never expires) schedules nothing. */
  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    if (this.closed || delayMs <= 0) return;
    this.timer = setTimeout(() => void this.tick(), Math.max(this.opts.minBackoffMs, delayMs)).unref();
  }

  /** Renews the token, or logs in again when renewing cannot help (not renewable, near its max TTL, refused). */
  private async tick(): Promise<void> {
    const h = this.held;
    if (this.closed) return;
    const signal = AbortSignal.timeout(10_000);
    const nearMaxTtl = h !== undefined && h.token.ttlSeconds < h.firstTtl / 2 && this.auth.method !== 'token';
    if (!h?.token.renewable || nearMaxTtl) return this.backgroundLogin(signal);
    try {
      const body = await this.client.send(
        { method: 'POST', path: 'auth/token/renew-self', token: h.token.token },
        signal,
      );
      const renewed = { ...parseAuth(body, 'token renewal'), token: h.token.token };
      if (this.held !== h) return; // replaced by a login meanwhile, which scheduled its own renewal
      this.held = { ...h, token: renewed, expiresAt: expiry(this.clock.monotonic(), renewed) };
      this.renewals++;
      this.log.debug({ method: this.auth.method, ttlSeconds: renewed.ttlSeconds }, 'renewed the Vault token');
      this.schedule(renewed.ttlSeconds * 1_000 * this.opts.renewFraction);
    } catch (err) {
      const f = classifyFailure(err);
      this.log.warn({ method: this.auth.method, reason: f.message }, 'Vault token renewal failed');
      if (isPermissionDenied(f)) {
        if (this.held === h) this.held = undefined; // revoked or expired: it is of no further use
        return this.backgroundLogin(signal);
      }
      // Transient trouble: try again well before the token expires, never faster than the backoff.
      const left = h.expiresAt === undefined ? this.opts.maxBackoffMs : h.expiresAt - this.clock.monotonic();
      this.schedule(Math.max(1, Math.min(this.opts.maxBackoffMs, left / 3)));
    }
  }

  private async backgroundLogin(signal: AbortSignal): Promise<void> {
    try {
      await this.login(signal); // schedules the next renewal itself
    } catch {
      this.schedule(Math.max(1, this.gate.remainingMs()));
    }
  }
}
