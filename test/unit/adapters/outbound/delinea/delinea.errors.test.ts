import { describe, expect, it } from 'vitest';
import {
  DelineaCallFailure,
  errorCode,
  isRetryable,
  toKmsError,
} from '#src/adapters/outbound/delinea/delinea.errors.js';

describe('delinea error translation', () => {
  it.each([
    [undefined, 'ECONNREFUSED', 'backend-unavailable', true],
    [undefined, 'SELF_SIGNED_CERT_IN_CHAIN', 'backend-misconfigured', false],
    [401, 'API_AuthenticationFailed', 'backend-misconfigured', false],
    [403, 'API_AccessDenied', 'backend-misconfigured', false],
    [404, 'API_SecretNotFound', 'backend-misconfigured', false],
    [429, '429', 'backend-throttled', true],
    [500, '500', 'backend-unavailable', true],
    [503, '503', 'backend-unavailable', true],
    [400, 'API_InvalidRequest', 'backend-misconfigured', false],
  ] as const)('status %s (%s) is %s, retryable %s', (status, detail, kind, retry) => {
    const f = new DelineaCallFailure(status, detail);
    expect(toKmsError(f, 'reading x').kind).toBe(kind);
    expect(isRetryable(f)).toBe(retry);
  });

  it('keeps only a short code from error bodies, never free text', () => {
    expect(errorCode('{"errorCode":"API_AccessDenied","message":"Access denied for user bob"}')).toBe(
      'API_AccessDenied',
    );
    expect(errorCode('{"error":"invalid_grant"}')).toBe('invalid_grant');
    expect(errorCode('{"code":404,"message":"x"}')).toBe('404');
    expect(errorCode('{"error":"has spaces and p@ssw0rd"}')).toBeUndefined();
    expect(errorCode('<html>')).toBeUndefined();
  });
});
