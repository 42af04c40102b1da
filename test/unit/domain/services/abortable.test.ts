import { describe, expect, it, vi } from 'vitest';
import { CancelledError, DeadlineExceededError, KeyUnusableError } from '#src/domain/model/errors.js';
import { abortable, abortReason, throwIfAborted } from '#src/domain/services/abortable.js';

const never = <T>() => new Promise<T>(() => undefined);

describe('abortable', () => {
  it('resolves with the work’s value', async () => {
    await expect(abortable(Promise.resolve(42), new AbortController().signal)).resolves.toBe(42);
  });

  it('rejects with the work’s error', async () => {
    const err = new KeyUnusableError('disabled');
    await expect(abortable(Promise.reject(err), new AbortController().signal)).rejects.toBe(err);
  });

  it('rejects with the signal’s KmsError reason as soon as it aborts, without waiting for the work', async () => {
    const ac = new AbortController();
    const reason = new DeadlineExceededError('deadline passed');
    const p = abortable(never<number>(), ac.signal);
    setTimeout(() => ac.abort(reason), 5);
    await expect(p).rejects.toBe(reason);
  });

  it('turns an AbortSignal.timeout() reason into DeadlineExceededError', async () => {
    const p = abortable(never<number>(), AbortSignal.timeout(5));
    await expect(p).rejects.toBeInstanceOf(DeadlineExceededError);
  });

  it('turns any other non-KmsError reason into CancelledError', async () => {
    const ac = new AbortController();
    const p = abortable(never<number>(), ac.signal);
    ac.abort(new Error('gone'));
    await expect(p).rejects.toBeInstanceOf(CancelledError);
  });

  it('rejects at once when already aborted, and swallows the work’s late rejection', async () => {
    const ac = new AbortController();
    const reason = new CancelledError('gone');
    ac.abort(reason);
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      let fail!: (e: Error) => void;
      const work = new Promise<number>((_, reject) => (fail = reject));
      await expect(abortable(work, ac.signal)).rejects.toBe(reason);
      fail(new Error('late backend failure'));
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });

  it('ignores an abort that comes after the work settled, and removes its listener', async () => {
    const ac = new AbortController();
    const remove = vi.spyOn(ac.signal, 'removeEventListener');
    await expect(abortable(Promise.resolve('done'), ac.signal)).resolves.toBe('done');
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
    ac.abort(new CancelledError('late'));
  });
});

describe('abortReason / throwIfAborted', () => {
  it('passes a KmsError reason through and maps anything else to CancelledError', () => {
    const ac = new AbortController();
    const reason = new DeadlineExceededError('x');
    ac.abort(reason);
    expect(abortReason(ac.signal)).toBe(reason);
    const plain = new AbortController();
    plain.abort();
    expect(abortReason(plain.signal)).toBeInstanceOf(CancelledError);
  });

  it('throws only when aborted', () => {
    expect(() => throwIfAborted(new AbortController().signal)).not.toThrow();
    const ac = new AbortController();
    ac.abort(new DeadlineExceededError('late'));
    expect(() => throwIfAborted(ac.signal)).toThrow(DeadlineExceededError);
  });
});
