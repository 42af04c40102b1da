import { CancelledError, DeadlineExceededError, KmsError } from '../model/errors.js';

/**
 * Settles with `work`, or rejects as soon as `signal` aborts, whichever comes
 * first. The inbound edge aborts with a DeadlineExceededError when the
 * caller's grpc-timeout passes, so a late backend answer is never sent as a
 * success. The backend call itself is told through the same signal.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined); // the late result is deliberately dropped
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** The KmsError an aborted signal stands for. */
export function abortReason(signal: AbortSignal): KmsError {
  const reason: unknown = signal.reason;
  if (reason instanceof KmsError) return reason;
  // AbortSignal.timeout() aborts with a DOMException named TimeoutError (WHATWG DOM §3.1).
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new DeadlineExceededError('the time budget ran out before the backend answered');
  }
  return new CancelledError('the call was cancelled');
}

/** Throws the signal's reason if it has already aborted. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortReason(signal);
}
