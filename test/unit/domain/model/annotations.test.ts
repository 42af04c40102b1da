import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { annotationsEqual, isValidAnnotationKey, validateAnnotations } from '#src/domain/model/annotations.js';
import { InvalidRequestError } from '#src/domain/model/errors.js';

const enc = (s: string) => new TextEncoder().encode(s);
const label = (n: number) => 'a'.repeat(n);
/** A name of exactly `total` chars: 63-char labels, then one shorter label. */
function nameOfLength(total: number): string {
  const labels: string[] = [];
  let left = total;
  while (left > 64) {
    labels.push(label(63));
    left -= 64;
  }
  labels.push(label(left));
  return labels.join('.');
}

describe('isValidAnnotationKey (IsFullyQualifiedDomainName)', () => {
  it.each([
    ['version.kleidi.io', true],
    ['version.kleidi.io.', true], // one trailing dot is stripped
    ['version.kleidi.io..', false],
    ['remote-kms-auditid.kms.example.io', true],
    ['kms.example.io/remote-kms-auditid', false], // the docs' example fails because of '/'
    ['Version.kleidi.io', false],
    ['version.KLEIDI.io', false],
    ['my_key.example.io', false],
    ['localhost', false], // a single label
    ['localhost.', false],
    ['', false],
    ['.', false],
    ['a..b', false],
    ['.a.b', false],
    ['-a.io', false],
    ['a-.io', false],
    ['a--b.io', true],
    ['1.2', true],
    ['ä.example.io', false],
    [`${label(63)}.io`, true],
    [`${label(64)}.io`, false],
    [`x.${label(63)}`, true],
    [`x.${label(64)}`, false],
  ])('%j → %s', (key, ok) => {
    expect(isValidAnnotationKey(key)).toBe(ok);
  });

  it('accepts 253 characters and refuses 254', () => {
    expect(nameOfLength(253)).toHaveLength(253);
    expect(isValidAnnotationKey(nameOfLength(253))).toBe(true);
    expect(isValidAnnotationKey(nameOfLength(254))).toBe(false);
  });

  it('allows the trailing dot on top of 253 characters', () => {
    expect(isValidAnnotationKey(`${nameOfLength(253)}.`)).toBe(true);
  });

  it('accepts every key built from valid labels, and nothing with "/", "_" or uppercase', () => {
    const lbl = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
    fc.assert(
      fc.property(fc.array(lbl, { minLength: 2, maxLength: 6 }), (labels) => {
        expect(isValidAnnotationKey(labels.join('.'))).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (s) => {
        const ok = isValidAnnotationKey(s);
        if (ok) {
          expect(s).not.toMatch(/[/_A-Z]/);
          expect(s.replace(/\.$/, '').split('.').length).toBeGreaterThanOrEqual(2);
        }
      }),
    );
  });
});

describe('validateAnnotations', () => {
  const key = 'version.kleidi.io'; // 17 bytes

  it('accepts no annotations and the one kleidi issues', () => {
    expect(() => validateAnnotations({})).not.toThrow();
    expect(() => validateAnnotations({ [key]: enc('1') })).not.toThrow();
  });

  it('accepts exactly 32768 bytes of key+value and refuses 32769', () => {
    expect(() => validateAnnotations({ [key]: new Uint8Array(32_768 - 17) })).not.toThrow();
    expect(() => validateAnnotations({ [key]: new Uint8Array(32_769 - 17) })).toThrow(InvalidRequestError);
    expect(() => validateAnnotations({ [key]: new Uint8Array(32_769 - 17) })).toThrow(/32769 bytes/);
  });

  it('sums keys and values across all annotations', () => {
    const a = 'a.example.io'; // 12 bytes
    const b = 'b.example.io'; // 12 bytes
    const half = (32_768 - 24) / 2;
    expect(() => validateAnnotations({ [a]: new Uint8Array(half), [b]: new Uint8Array(half) })).not.toThrow();
    expect(() => validateAnnotations({ [a]: new Uint8Array(half), [b]: new Uint8Array(half + 1) })).toThrow(
      InvalidRequestError,
    );
  });

  it('refuses an invalid key and names it', () => {
    const bad = 'kms.example.io/remote-kms-auditid';
    expect(() => validateAnnotations({ [bad]: enc('x') })).toThrow(InvalidRequestError);
    expect(() => validateAnnotations({ [bad]: enc('x') })).toThrow(/"kms\.example\.io\/remote-kms-auditid"/);
  });
});

describe('annotationsEqual', () => {
  const v1 = { 'version.kleidi.io': enc('1') };

  it('compares byte-wise, not by identity, and ignores key order', () => {
    expect(annotationsEqual(v1, { 'version.kleidi.io': enc('1') })).toBe(true);
    expect(annotationsEqual({}, {})).toBe(true);
    const ab = { 'a.io': enc('1'), 'b.io': enc('2') };
    expect(annotationsEqual(ab, { 'b.io': enc('2'), 'a.io': enc('1') })).toBe(true);
  });

  it.each([
    ['a different value', { 'version.kleidi.io': enc('2') }],
    ['a longer value', { 'version.kleidi.io': enc('10') }],
    ['a missing key', {}],
    ['an extra key', { 'version.kleidi.io': enc('1'), 'x.kleidi.io': enc('1') }],
    ['another key', { 'other.kleidi.io': enc('1') }],
  ])('detects %s', (_what, other) => {
    expect(annotationsEqual(v1, other)).toBe(false);
    expect(annotationsEqual(other, v1)).toBe(false);
  });
});
