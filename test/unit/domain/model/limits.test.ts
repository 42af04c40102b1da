import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '#src/domain/model/errors.js';
import {
  ANNOTATIONS_MAX_BYTES,
  CIPHERTEXT_MAX_BYTES,
  KEY_ID_MAX_BYTES,
  utf8Length,
  validateCiphertextSize,
  validatePlaintext,
} from '#src/domain/model/limits.js';

const bytes = (n: number) => new Uint8Array(n).fill(7);

describe('apiserver limits (kmsv2/envelope.go)', () => {
  it('are the exact numbers kube-apiserver enforces', () => {
    expect(KEY_ID_MAX_BYTES).toBe(1024);
    expect(CIPHERTEXT_MAX_BYTES).toBe(1024);
    expect(ANNOTATIONS_MAX_BYTES).toBe(32_768);
  });
});

describe('validatePlaintext', () => {
  it('refuses an empty plaintext', () => {
    expect(() => validatePlaintext(bytes(0))).toThrow(InvalidRequestError);
    expect(() => validatePlaintext(bytes(0))).toThrow(/must not be empty/);
  });

  it.each([1, 32, 1024])('accepts %i bytes', (n) => {
    expect(() => validatePlaintext(bytes(n))).not.toThrow();
  });

  it('refuses 1025 bytes and says how many it got', () => {
    expect(() => validatePlaintext(bytes(1025))).toThrow(InvalidRequestError);
    expect(() => validatePlaintext(bytes(1025))).toThrow(/1025 bytes/);
  });
});

describe('validateCiphertextSize', () => {
  it('refuses 0 bytes', () => {
    expect(() => validateCiphertextSize(bytes(0))).toThrow(InvalidRequestError);
  });

  it.each([1, 1024])('accepts %i bytes', (n) => {
    expect(() => validateCiphertextSize(bytes(n))).not.toThrow();
  });

  it('refuses 1025 bytes', () => {
    expect(() => validateCiphertextSize(bytes(1025))).toThrow(InvalidRequestError);
    expect(() => validateCiphertextSize(bytes(1025))).toThrow(/1025 bytes; the apiserver accepts at most 1024/);
  });

  it('names the field it checked', () => {
    expect(() => validateCiphertextSize(bytes(0), 'wrapped key')).toThrow(/^wrapped key must not be empty$/);
  });
});

describe('utf8Length', () => {
  it('counts UTF-8 bytes, not UTF-16 code units', () => {
    expect(utf8Length('')).toBe(0);
    expect(utf8Length('abc')).toBe(3);
    expect(utf8Length('é')).toBe(2);
    expect(utf8Length('€')).toBe(3);
    expect(utf8Length('😀')).toBe(4); // two UTF-16 code units
  });
});

describe('limits: properties', () => {
  it('validatePlaintext throws InvalidRequestError exactly when the length is outside 1..1024', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1100 }), (n) => {
        const ok = n >= 1 && n <= 1024;
        let thrown: unknown;
        try {
          validatePlaintext(bytes(n));
        } catch (err) {
          thrown = err;
        }
        expect(thrown === undefined).toBe(ok);
        if (!ok) expect(thrown).toBeInstanceOf(InvalidRequestError);
      }),
    );
  });

  it('validateCiphertextSize agrees with 1..1024 on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1100 }), (b) => {
        const ok = b.length >= 1 && b.length <= 1024;
        if (ok) expect(() => validateCiphertextSize(b)).not.toThrow();
        else expect(() => validateCiphertextSize(b)).toThrow(InvalidRequestError);
      }),
    );
  });
});
