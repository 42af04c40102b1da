import { UserType, type Module, type Session } from 'graphene-pk11';
import { BackendUnavailableError, KmsError } from '../../../domain/model/errors.js';
import { abortable, abortReason } from '../../../domain/services/abortable.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { classifyCkr, ckrOf, toKmsError } from './pkcs11.errors.js';
import { PinLatch } from './pkcs11.latch.js';
import { loadModule, tokenAnswers, unloadModule } from './pkcs11.module.js';
import { describeToken, type Pkcs11Options } from './pkcs11.options.js';
import { pinSourceStamp, readPin } from './pkcs11.pin.js';
import { deadline, ReconnectBackoff } from './pkcs11.timing.js';
import { openToken, type LiveToken } from './pkcs11.token.js';

/** In-flight native calls get this long to finish before C_Finalize; finalising under them can crash. */
const DRAIN_MS = 10_000;

/**
 * The token connection: C_Initialize, slot lookup, one C_Login, session pool
 * and key catalog, plus recovery. Lost sessions or a vanished token drop the
 * connection; the next call reconnects from scratch (C_Finalize +
 * C_Initialize, because SoftHSM only rediscovers a restored token directory
 * that way), with exponential backoff between failed attempts. A rejected
 * PIN latches: no further C_Login until the PIN source changes.
 */
export class Pkcs11Connection {
  private live: LiveToken | undefined;
  private module: Module | undefined;
  private connecting: Promise<LiveToken> | undefined;
  private readonly dropped: LiveToken[] = [];
  private readonly backoff: ReconnectBackoff;
  private readonly latch: PinLatch;
  private closed = false;

  constructor(
    readonly options: Pkcs11Options,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {
    this.backoff = new ReconnectBackoff(options.reconnectMinMs, options.reconnectMaxMs, clock);
    this.latch = new PinLatch(options.pin, clock, log);
  }

  /** Runs `op` on the live token within the per-call budget; every failure leaves as a KmsError. */
  call<T>(
    what: string,
    signal: AbortSignal,
    op: (t: LiveToken, signal: AbortSignal) => Promise<T>,
    budgetMs = this.options.callTimeoutMs,
  ): Promise<T> {
    if (signal.aborted) return Promise.reject(abortReason(signal)); // before touching the token
    const d = deadline(signal, budgetMs);
    return abortable(this.attempt(what, d.signal, op), d.signal).finally(d.dispose);
  }

  private async attempt<T>(
    what: string,
    signal: AbortSignal,
    op: (t: LiveToken, s: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const t = await this.connected();
    try {
      return await op(t, signal);
    } catch (err) {
      throw this.failed(t, err, what);
    }
  }

  /** Connects now, for startup; the caller decides which failures are fatal. */
  connect(): Promise<LiveToken> {
    return this.connected();
  }

  /** Whether the last login attempt was refused for the PIN (and no retry is allowed yet). */
  get pinRejected(): boolean {
    return this.latch.engaged;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.connecting?.catch(() => undefined);
    if (this.live) this.drop(this.live, 'closing');
    await this.teardown().catch((err: unknown) => this.log.warn({ err }, 'PKCS#11 module left initialised'));
  }

  private connected(): Promise<LiveToken> {
    if (this.live) return Promise.resolve(this.live);
    if (this.closed) return Promise.reject(new BackendUnavailableError('the PKCS#11 backend is closed'));
    this.connecting ??= this.reconnect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async reconnect(): Promise<LiveToken> {
    await this.latch.check(); // SECURITY: throws the login error again without touching the token
    this.backoff.check(describeToken(this.options.token));
    try {
      await this.teardown();
      const stamp = await pinSourceStamp(this.options.pin);
      const pin = await readPin(this.options.pin);
      this.module = loadModule(this.options.module);
      const what = `C_Login on the ${describeToken(this.options.token)}`;
      const login = (anchor: Session) =>
        this.latch.login(pin, stamp, () => anchor.login(pin.value, UserType.USER), what);
      const live = openToken(this.module, this.options, login, this.clock, this.log);
      this.backoff.succeeded();
      this.live = live;
      this.log.info(
        { module: this.options.module, token: describeToken(this.options.token), slot: live.slotId },
        'PKCS#11 token connected',
      );
      return live;
    } catch (err) {
      await this.teardown().catch(() => undefined);
      const e = toKmsError(err, `opening the ${describeToken(this.options.token)}`);
      const retryInMs = this.latch.engaged ? undefined : this.backoff.failed(e);
      this.log.warn({ kind: e.kind, reason: e.message, retryInMs }, 'PKCS#11 token not usable');
      throw e;
    }
  }

  /** Reacts to a failed call (drop the connection, forget handles) and translates the error. */
  private failed(t: LiveToken, err: unknown, what: string): KmsError {
    if (err instanceof KmsError) return err;
    const cls = classifyCkr(ckrOf(err));
    const gone = cls === 'connection' || (cls === 'handle' && !tokenAnswers(t.lib, t.slot));
    if (gone) this.drop(t, toKmsError(err, what).message);
    else if (cls === 'handle') t.catalog.invalidate();
    return toKmsError(err, what);
  }

  private drop(t: LiveToken, reason: string): void {
    if (this.live !== t) return;
    this.live = undefined;
    this.dropped.push(t);
    void t.pool.shutdown(DRAIN_MS);
    if (reason !== 'closing') this.log.warn({ reason }, 'PKCS#11 token lost; reconnecting on the next call');
  }

  /** Closes dropped sessions and finalises the module, once no native call is in flight. */
  private async teardown(): Promise<void> {
    while (this.dropped.length > 0) {
      const t = this.dropped[0] as LiveToken;
      if (!(await t.pool.shutdown(DRAIN_MS))) {
        throw new BackendUnavailableError(
          `PKCS#11 calls still in flight after ${DRAIN_MS} ms; not finalising under them`,
        );
      }
      this.dropped.shift();
      try {
        t.anchor.close();
      } catch {
        // already invalid
      }
    }
    if (this.module) unloadModule(this.module);
    this.module = undefined;
  }
}
