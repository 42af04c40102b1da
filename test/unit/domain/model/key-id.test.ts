import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '#src/domain/model/errors.js';
import { composeKeyId, parseKeyId } from '#src/domain/model/key-id.js';

describe('parseKeyId (apiserver ValidateKeyID: 1..1024 UTF-8 bytes)', () => {
  it('refuses an empty key_id', () => {
    expect(() => parseKeyId('')).toThrow(InvalidRequestError);
    expect(() => parseKeyId('')).toThrow(/must not be empty/);
  });

  it.each([
    ['1 ASCII byte', 'a'],
    ['1024 ASCII bytes', 'k'.repeat(1024)],
    ['341 × 3-byte chars = 1023 bytes', '€'.repeat(341)],
    ['256 × 4-byte chars = 1024 bytes', '😀'.repeat(256)],
  ])('accepts %s and returns it unchanged', (_what, raw) => {
    expect(parseKeyId(raw)).toBe(raw);
  });

  it.each([
    ['1025 ASCII bytes', 'k'.repeat(1025), 1025],
    ['342 × 3-byte chars = 1026 bytes', '€'.repeat(342), 1026],
    ['513 × 2-byte chars = 1026 bytes (only 513 UTF-16 units)', 'é'.repeat(513), 1026],
    ['1023 ASCII + one 2-byte char = 1025 bytes', `${'k'.repeat(1023)}é`, 1025],
  ])('refuses %s, counting bytes not characters', (_what, raw, n) => {
    expect(() => parseKeyId(raw)).toThrow(InvalidRequestError);
    expect(() => parseKeyId(raw)).toThrow(new RegExp(`${n} bytes`));
  });

  it('agrees with the UTF-8 byte length for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 600 }), (s) => {
        const n = new TextEncoder().encode(s).length;
        if (n >= 1 && n <= 1024) expect(parseKeyId(s)).toBe(s);
        else expect(() => parseKeyId(s)).toThrow(InvalidRequestError);
      }),
    );
  });
});

describe('composeKeyId', () => {
  it('joins backend and parts with ":"', () => {
    expect(composeKeyId('local', 'v3', '9f8e7d6c5b4a3921')).toBe('local:v3:9f8e7d6c5b4a3921');
    expect(composeKeyId('in-memory')).toBe('in-memory');
  });

  it.each([
    ['an empty backend', () => composeKeyId('', 'v1')],
    ['an empty part', () => composeKeyId('local', 'v1', '')],
    ['a backend with ":"', () => composeKeyId('lo:cal', 'v1')],
    ['a part with ":"', () => composeKeyId('local', 'v1:x')],
  ])('refuses %s', (_what, call) => {
    expect(call).toThrow(InvalidRequestError);
    expect(call).toThrow(/must be non-empty and contain no ':'/);
  });

  it('keeps different identities apart (no ambiguous joins)', () => {
    // ('a', 'b:c') vs ('a:b', 'c') would both join to a:b:c; both must be refused.
    expect(() => composeKeyId('a', 'b:c')).toThrow(InvalidRequestError);
    expect(() => composeKeyId('a:b', 'c')).toThrow(InvalidRequestError);
  });

  it('still enforces the 1024-byte limit on the joined id', () => {
    expect(composeKeyId('local', 'x'.repeat(1018))).toHaveLength(1024);
    expect(() => composeKeyId('local', 'x'.repeat(1019))).toThrow(/1025 bytes/);
  });

  it('is injective over colon-free parts', () => {
    const part = fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !s.includes(':'));
    fc.assert(
      fc.property(
        fc.array(part, { minLength: 1, maxLength: 4 }),
        fc.array(part, { minLength: 1, maxLength: 4 }),
        (a, b) => {
          const [ab, ...ar] = a as [string, ...string[]];
          const [bb, ...br] = b as [string, ...string[]];
          const same = a.length === b.length && a.every((x, i) => x === b[i]);
          expect(composeKeyId(ab, ...ar) === composeKeyId(bb, ...br)).toBe(same);
        },
      ),
    );
  });
});
