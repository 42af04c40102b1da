import { DeadlineExceededError, KmsError } from '../../../domain/model/errors.js';
import { abortReason, throwIfAborted } from '../../../domain/services/abortable.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { BackendRequestCounts } from '../../../ports/outbound/metrics.port.js';
import { backoffDelay } from '../shared/backoff.js';
import { DelineaCallFailure, errorCode, isRetryable, toKmsError } from './delinea.errors.js';
import { type DelineaHttp, type HttpReply, type HttpRequest, retryAfterMs } from './delinea.http.js';
import type { TokenSource } from './delinea.token.js';

/** Budget and retries of one call; the defaults fit kube-apiserver's 3 s KMS call deadline. */
export interface DelineaCallSettings {
  readonly attemptTimeoutMs: number;
  /** All attempts of one call, pauses included, end within this budget (and the caller's signal). */
  readonly callBudgetMs: number;
  readonly maxAttempts: number;
}

/** Meanings of final statuses that depend on the endpoint (404 on a secret field: the secret is gone). */
export type StatusMeaning = Readonly<Record<number, (f: DelineaCallFailure) => KmsError>>;

/** Pauses between attempts: 50 ms doubling, full jitter; a throttled call starts at 200 ms. */
const PAUSE = { minMs: 50, maxMs: 1_000, jitter: 'full' as const };
const THROTTLED = { minMs: 200, maxMs: 2_000, jitter: 'full' as const };
/** Below this much remaining budget another attempt could not be answered in time. */
const MIN_ATTEMPT_MS = 100;

/**
 * Authenticated calls to one Delinea server: bearer token from the TokenSource, one retry with a
 * fresh token after a 401 (an expired or revoked token), retries of 429/5xx/no answer with
 * backoff (and Retry-After) inside the call budget and the caller's signal. A 2xx reply is
 * returned; anything else rejects with a KmsError (toKmsError) naming `what`.
 */
export class DelineaApi {
  readonly counts = { attempts: 0, retries: 0, throttled: 0 };

  constructor(
    readonly http: DelineaHttp,
    readonly tokens: TokenSource,
    private readonly settings: DelineaCallSettings,
    private readonly clock: Clock,
  ) {}

  async call(req: HttpRequest, what: string, signal: AbortSignal, meaning: StatusMeaning = {}): Promise<HttpReply> {
    throwIfAborted(signal);
    const budget = AbortSignal.timeout(this.settings.callBudgetMs);
    const s = AbortSignal.any([signal, budget]);
    const deadline = this.clock.monotonic() + this.settings.callBudgetMs;
    let freshTokenTried = false;
    let last: DelineaCallFailure | undefined;
    for (let attempt = 0; attempt < this.settings.maxAttempts; ) {
      if (s.aborted) throw this.stopped(signal, last, what);
      let reply: HttpReply;
      let token: string;
      try {
        token = await this.tokens.token(s);
        this.counts.attempts++;
        reply = await this.http.send({ ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } }, s);
      } catch (err) {
        if (err instanceof KmsError) throw err;
        if (s.aborted) throw this.stopped(signal, last, what);
        if (!(err instanceof DelineaCallFailure)) throw err;
        last = err;
        attempt++;
        if (!(await this.pause(err, attempt, deadline, s))) break;
        continue;
      }
      if (reply.status >= 200 && reply.status < 300) return reply;
      const f = new DelineaCallFailure(
        reply.status,
        errorCode(reply.body) ?? String(reply.status),
        retryAfterMs(reply.headers, this.clock.now()),
      );
      if (reply.status === 401 && !freshTokenTried) {
        // The token expired or was revoked before its stated lifetime: one fresh token, once.
        freshTokenTried = true;
        this.tokens.invalidate(token);
        continue;
      }
      last = f;
      attempt++;
      if (f.status === 429) this.counts.throttled++;
      if (!isRetryable(f) || !(await this.pause(f, attempt, deadline, s))) break;
    }
    const f = last ?? new DelineaCallFailure(undefined, 'no attempt made');
    const specific = f.status === undefined ? undefined : meaning[f.status];
    throw specific ? specific(f) : toKmsError(f, what);
  }

  requestCounts(): BackendRequestCounts {
    return { ...this.counts };
  }

  close(): void {
    this.http.close();
  }

  /** Waits before the next attempt; false when no attempt is left or it could not finish in time. */
  private async pause(f: DelineaCallFailure, attempt: number, deadline: number, s: AbortSignal): Promise<boolean> {
    if (attempt >= this.settings.maxAttempts || !isRetryable(f)) return false;
    const policy = f.status === 429 ? THROTTLED : PAUSE;
    const ms = Math.max(f.retryAfterMs ?? 0, backoffDelay(policy, attempt - 1));
    if (this.clock.monotonic() + ms + MIN_ATTEMPT_MS > deadline) return false;
    this.counts.retries++;
    await new Promise<void>((done) => {
      const t = this.clock.setTimer(ms, done);
      s.addEventListener(
        'abort',
        () => {
          t.cancel();
          done();
        },
        { once: true },
      );
    });
    return !s.aborted;
  }

  private stopped(signal: AbortSignal, last: DelineaCallFailure | undefined, what: string): KmsError {
    if (signal.aborted) return abortReason(signal);
    const why = last ? ` (last: ${last.message})` : '';
    return new DeadlineExceededError(`${what}: the call budget ran out before Delinea answered${why}`);
  }
}
