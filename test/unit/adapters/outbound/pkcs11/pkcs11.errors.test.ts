import pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import { ckrName, classifyCkr, toKmsError } from '#src/adapters/outbound/pkcs11/pkcs11.errors.js';
import { KeyVersionUnknownError, type KmsErrorKind } from '#src/domain/model/errors.js';

const ckr = (name: keyof typeof pkcs11js & `CKR_${string}`) => {
  const code = pkcs11js[name] as number;
  return new pkcs11js.Pkcs11Error(`${name}:${code}`, code, 'C_Test');
};

describe('PKCS#11 return values → KmsError', () => {
  it.each([
    ['CKR_PIN_INCORRECT', 'backend-misconfigured'],
    ['CKR_PIN_LOCKED', 'backend-misconfigured'],
    ['CKR_PIN_EXPIRED', 'backend-misconfigured'],
    ['CKR_SESSION_HANDLE_INVALID', 'backend-unavailable'],
    ['CKR_SESSION_CLOSED', 'backend-unavailable'],
    ['CKR_DEVICE_REMOVED', 'backend-unavailable'],
    ['CKR_TOKEN_NOT_PRESENT', 'backend-unavailable'],
    ['CKR_GENERAL_ERROR', 'backend-unavailable'],
    ['CKR_OBJECT_HANDLE_INVALID', 'backend-unavailable'],
    ['CKR_ENCRYPTED_DATA_INVALID', 'malformed-ciphertext'],
    ['CKR_ENCRYPTED_DATA_LEN_RANGE', 'malformed-ciphertext'],
    ['CKR_KEY_FUNCTION_NOT_PERMITTED', 'key-unusable'],
    ['CKR_MECHANISM_INVALID', 'key-unusable'],
    ['CKR_SESSION_COUNT', 'backend-throttled'],
    ['CKR_FUNCTION_FAILED', 'backend-unavailable'],
  ] as const)('%s → %s', (name, kind: KmsErrorKind) => {
    const e = toKmsError(ckr(name), 'C_Test');
    expect(e.kind).toBe(kind);
    expect(e.message).toContain(name);
    expect(e.cause).toBeInstanceOf(pkcs11js.Pkcs11Error);
  });

  it('classifies the codes that drive latching and reconnecting', () => {
    expect(classifyCkr(pkcs11js.CKR_PIN_INCORRECT)).toBe('pin');
    expect(classifyCkr(pkcs11js.CKR_USER_NOT_LOGGED_IN)).toBe('connection');
    expect(classifyCkr(pkcs11js.CKR_KEY_HANDLE_INVALID)).toBe('handle');
    expect(classifyCkr(0x35)).toBe('auth'); // CKR_AEAD_DECRYPT_FAILED (PKCS#11 3.0)
    expect(classifyCkr(undefined)).toBe('other');
  });

  it('names the PIN code first and says it will not retry', () => {
    const e = toKmsError(ckr('CKR_PIN_INCORRECT'), 'C_Login on a token');
    expect(e.message).toMatch(
      /^PKCS#11 login refused with CKR_PIN_INCORRECT \(C_Login on a token\); not logging in again/,
    );
  });

  it('passes KmsErrors through and wraps anything else as unavailable', () => {
    const own = new KeyVersionUnknownError('x');
    expect(toKmsError(own, 'op')).toBe(own);
    expect(toKmsError(new TypeError('boom'), 'op')).toMatchObject({
      kind: 'backend-unavailable',
      message: 'op failed: boom',
    });
  });

  it('names unknown codes in hex', () => {
    expect(ckrName(0x80000123)).toBe('CKR_0x80000123');
    expect(ckrName(0x35)).toBe('CKR_AEAD_DECRYPT_FAILED');
  });
});
