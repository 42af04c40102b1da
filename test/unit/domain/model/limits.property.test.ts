import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidAnnotationKey, validateAnnotations } from '#src/domain/model/annotations.js';
import { InvalidRequestError } from '#src/domain/model/errors.js';
import { ANNOTATIONS_MAX_BYTES, utf8Length } from '#src/domain/model/limits.js';

/**
 * Properties of the limit validators that limits.test.ts and
 * annotations.test.ts do not cover (reliability campaign, docs/reliability.md): agreement
 * with an independent transcription of the apiserver's rule, and exact
 * behaviour at the 32 KiB annotations limit.
 */

/**
 * k8s.io/apimachinery validation.IsFullyQualifiedDomainName, transcribed on its own
 * (not kleidi's code): one trailing dot dropped; a DNS-1123 subdomain (≤ 253 bytes,
 * labels `[a-z0-9]([-a-z0-9]*[a-z0-9])?` joined by dots); at least two segments;
 * each label ≤ 63 bytes.
 */
function apiserverAcceptsKey(key: string): boolean {
  if (key.length === 0) return false;
  const name = key.endsWith('.') ? key.slice(0, -1) : key;
  const subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
  if (Buffer.byteLength(name) > 253 || !subdomain.test(name)) return false;
  const labels = name.split('.');
  return labels.length >= 2 && labels.every((l) => Buffer.byteLength(l) <= 63);
}

/** Strings over the characters that matter, with lengths around 63 and 253. */
const keyish = fc
  .oneof(
    fc.string({ unit: fc.constantFrom('a', 'z', '0', '9', '-', '.', 'A', '_', '/', 'é'), maxLength: 12 }),
    fc
      .array(fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,70}[a-z0-9])?$/), { minLength: 1, maxLength: 6 })
      .map((l) => l.join('.')),
    fc
      .tuple(fc.integer({ min: 55, max: 70 }), fc.integer({ min: 2, max: 5 }))
      .map(([len, k]) => Array.from({ length: k }, () => 'a'.repeat(len)).join('.')),
    fc.integer({ min: 245, max: 260 }).map((len) => `${'a'.repeat(60)}.`.repeat(5).slice(0, len).replace(/\.$/, 'b')),
    fc.string({ unit: 'binary', maxLength: 30 }),
  )
  .chain((k) => fc.constantFrom(k, `${k}.`, `.${k}`, `${k}..`));

describe('limit validators: more properties', () => {
  it('isValidAnnotationKey agrees with the apiserver rule (independent transcription) on every key', () => {
    fc.assert(
      fc.property(keyish, (key) => {
        expect(isValidAnnotationKey(key)).toBe(apiserverAcceptsKey(key));
      }),
      { numRuns: 2_000 },
    );
  });

  it('validateAnnotations accepts exactly when every key is valid and Σ(key + value bytes) ≤ 32768', () => {
    const validKey = fc
      .array(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/), { minLength: 2, maxLength: 4 })
      .map((l) => l.join('.'));
    const entry = fc.tuple(fc.oneof(validKey, validKey, keyish), fc.integer({ min: 0, max: 20_000 }));
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 4 }), fc.integer({ min: -3, max: 3 }), (entries, nudge) => {
        const annotations: Record<string, Uint8Array> = {};
        for (const [k, size] of entries) annotations[k] = new Uint8Array(size);
        // Push the total to the limit ± a few bytes, on the last entry, to hit the boundary often.
        const keys = Object.keys(annotations);
        const total = () => keys.reduce((s, k) => s + utf8Length(k) + annotations[k]!.length, 0);
        const last = keys.at(-1);
        if (last && Math.abs(total() - ANNOTATIONS_MAX_BYTES) < 25_000) {
          const want = annotations[last]!.length + (ANNOTATIONS_MAX_BYTES + nudge - total());
          if (want >= 0) annotations[last] = new Uint8Array(want);
        }
        const ok = keys.every(apiserverAcceptsKey) && total() <= ANNOTATIONS_MAX_BYTES;
        if (ok) expect(() => validateAnnotations(annotations)).not.toThrow();
        else expect(() => validateAnnotations(annotations)).toThrow(InvalidRequestError);
      }),
      { numRuns: 1_000 },
    );
  });

  it('utf8Length equals the encoded byte length, also for lone surrogates and astral characters', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.oneof(
            fc.constantFrom('\uD800', '\uDFFF', '😀', 'é', 'a'),
            fc.string({ unit: 'binary', maxLength: 1 }),
          ),
          maxLength: 50,
        }),
        (s) => {
          expect(utf8Length(s)).toBe(Buffer.byteLength(s, 'utf8'));
        },
      ),
    );
  });
});
