import { BackendUnavailableError } from '../../../domain/model/errors.js';
import { abortReason } from '../../../domain/services/abortable.js';

/** A PKCS#11 session handle (CK_SESSION_HANDLE as pkcs11js passes it). */
export type SessionHandle = Buffer;

interface Waiter {
  grant(session: SessionHandle): void;
  fail(err: unknown): void;
}

/**
 * A fixed-size pool of crypto sessions with one operation in flight per
 * session: C_EncryptInit and the C_EncryptAsync that follows it must run on
 * the same session, and a session holds one active operation at a time.
 * Sessions open lazily; a session that saw any error is closed instead of
 * reused, because its operation state is then unknown (SoftHSM, for one,
 * leaves the operation active after CKR_ARGUMENTS_BAD or CKR_BUFFER_TOO_SMALL).
 */
export class SessionPool {
  private readonly idle: SessionHandle[] = [];
  private readonly waiters: Waiter[] = [];
  private opened = 0;
  private busy = 0;
  private closed = false;
  private readonly onDrained: (() => void)[] = [];

  constructor(
    private readonly size: number,
    private readonly open: () => SessionHandle,
    private readonly close: (session: SessionHandle) => void,
  ) {}

  /** Runs `op` on a session of its own; waits (abortably) while all sessions are busy. */
  async use<T>(signal: AbortSignal, op: (session: SessionHandle) => Promise<T>): Promise<T> {
    const session = await this.acquire(signal);
    let healthy = false;
    try {
      const result = await op(session);
      healthy = true;
      return result;
    } finally {
      this.release(session, healthy);
    }
  }

  /** Calls in flight or waiting, for diagnostics. */
  get load(): { busy: number; waiting: number; open: number } {
    return { busy: this.busy, waiting: this.waiters.length, open: this.opened };
  }

  /**
   * Refuses new work, fails waiters, and resolves true once no call is in
   * flight (false if `drainMs` passed first; call again later), then closes
   * idle sessions. A native call cannot be cancelled, so C_Finalize must
   * wait for this. Safe to call repeatedly.
   */
  async shutdown(drainMs: number): Promise<boolean> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.fail(new BackendUnavailableError('PKCS#11 sessions are being reopened'));
    if (this.busy > 0) {
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), drainMs);
        this.onDrained.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!drained) return false;
    }
    for (const s of this.idle.splice(0)) this.discard(s);
    return true;
  }

  private acquire(signal: AbortSignal): Promise<SessionHandle> {
    if (this.closed) return Promise.reject(new BackendUnavailableError('PKCS#11 sessions are being reopened'));
    if (signal.aborted) return Promise.reject(abortReason(signal));
    const ready = this.idle.pop() ?? (this.opened < this.size ? this.openOne() : undefined);
    if (ready !== undefined) {
      this.busy++;
      return Promise.resolve(ready);
    }
    return new Promise<SessionHandle>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortReason(signal));
      };
      const waiter: Waiter = {
        grant: (s) => {
          signal.removeEventListener('abort', onAbort);
          this.busy++;
          resolve(s);
        },
        fail: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private release(session: SessionHandle, healthy: boolean): void {
    this.busy--;
    if (!healthy || this.closed) this.discard(session);
    else this.idle.push(session);
    if (this.closed) {
      if (this.busy === 0) for (const done of this.onDrained.splice(0)) done();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter === undefined) return;
    try {
      const next = this.idle.pop() ?? this.openOne();
      waiter.grant(next);
    } catch (err) {
      // C_OpenSession failed: the token is most likely gone, so nobody else will get one either.
      // Each caller classifies the CK_RV (and triggers the reconnect).
      for (const w of [waiter, ...this.waiters.splice(0)]) w.fail(err);
    }
  }

  private openOne(): SessionHandle {
    const s = this.open();
    this.opened++;
    return s;
  }

  private discard(session: SessionHandle): void {
    this.opened--;
    try {
      this.close(session);
    } catch {
      // the session may already be invalid; nothing to free then
    }
  }
}
