import { describe, expect, it } from 'vitest';
import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  CancelledError,
  DeadlineExceededError,
  InvalidRequestError,
  KeyUnusableError,
  KeyVersionUnknownError,
  KmsError,
  MalformedCiphertextError,
  stopsWrites,
} from '#src/domain/model/errors.js';

const all = [
  [InvalidRequestError, 'invalid-request', false, false],
  [MalformedCiphertextError, 'malformed-ciphertext', false, false],
  [KeyVersionUnknownError, 'key-version-unknown', false, false],
  [KeyUnusableError, 'key-unusable', false, true],
  [BackendMisconfiguredError, 'backend-misconfigured', false, true],
  [BackendUnavailableError, 'backend-unavailable', true, false],
  [BackendThrottledError, 'backend-throttled', true, false],
  [DeadlineExceededError, 'deadline-exceeded', true, false],
  [CancelledError, 'cancelled', false, false],
] as const;

describe('KmsError taxonomy', () => {
  it.each(all)('%o has kind %s, retryable=%s, stopsWrites=%s', (Ctor, kind, retryable, stops) => {
    const e = new Ctor('safe message');
    expect(e).toBeInstanceOf(KmsError);
    expect(e).toBeInstanceOf(Error);
    expect(e.kind).toBe(kind);
    expect(e.retryable).toBe(retryable);
    expect(e.name).toBe(Ctor.name);
    expect(e.message).toBe('safe message');
    expect(stopsWrites(e)).toBe(stops);
  });

  it('keeps the cause for logs', () => {
    const cause = new Error('ECONNRESET');
    expect(new BackendUnavailableError('vault unreachable', { cause }).cause).toBe(cause);
  });

  it('covers every kind exactly once', () => {
    expect(new Set(all.map(([, kind]) => kind)).size).toBe(all.length);
  });

  it('prints its class name, so logs and stack traces say which failure it was', () => {
    expect(String(new KeyVersionUnknownError('key_id local:v9 unknown'))).toBe(
      'KeyVersionUnknownError: key_id local:v9 unknown',
    );
    expect(new DeadlineExceededError('late').stack).toMatch(/^DeadlineExceededError: late/);
  });
});
