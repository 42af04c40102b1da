import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, envelopeHeader } from '#src/domain/model/envelope.js';
import { MalformedCiphertextError } from '#src/domain/model/errors.js';
import { parseKeyId, type KeyId } from '#src/domain/model/key-id.js';
import type { WrappedKey } from '#src/domain/model/key-version.js';

/**
 * Properties of the envelope codec that envelope-properties.test.ts does not
 * cover (reliability campaign, docs/reliability.md): byte views at an offset, truncation,
 * header injectivity (the AEAD associated data), exact sizes with multi-byte
 * key_ids, and the apiserver's 1024-byte ciphertext limit for real seeds.
 */
const utf8 = (s: string) => new TextEncoder().encode(s).length;
const keyId: fc.Arbitrary<KeyId> = fc
  .oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), // multi-byte UTF-8
    fc.stringMatching(/^local:v[1-9][0-9]{0,3}:[0-9a-f]{16}$/),
  )
  .filter(
    (s) =>
      utf8(s) >= 1 &&
      utf8(s) <= 1024 &&
      new TextDecoder('utf-8', { fatal: true }).decode(new TextEncoder().encode(s)) === s,
  )
  .map(parseKeyId);
const scheme = fc.constantFrom('aes-256-gcm' as const, 'opaque' as const);
const wrapped: fc.Arbitrary<WrappedKey> = fc.oneof(
  fc.record({
    keyId,
    payload: fc.record({
      scheme: fc.constant('aes-256-gcm' as const),
      nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
      sealed: fc.uint8Array({ minLength: 17, maxLength: 200 }),
    }),
  }),
  fc.record({
    keyId,
    payload: fc.record({
      scheme: fc.constant('opaque' as const),
      blob: fc.uint8Array({ minLength: 1, maxLength: 200 }),
    }),
  }),
);

/** `bytes` copied into a larger buffer at `offset`, as a view: what a protobuf decoder hands over. */
function viewAt(bytes: Uint8Array, offset: number): Uint8Array {
  const buf = new Uint8Array(offset + bytes.length + 7).fill(0xee);
  buf.set(bytes, offset);
  return buf.subarray(offset, offset + bytes.length);
}

describe('envelope codec: more properties', () => {
  it('decodes a view into a larger buffer exactly as a fresh copy (no reliance on byteOffset 0)', () => {
    fc.assert(
      fc.property(wrapped, fc.integer({ min: 1, max: 64 }), (w, offset) => {
        const bytes = encodeEnvelope(w);
        expect(decodeEnvelope(viewAt(bytes, offset))).toEqual(decodeEnvelope(bytes));
      }),
    );
  });

  it('any truncation of an AES-GCM envelope is refused as malformed, never decoded under another key_id', () => {
    fc.assert(
      fc.property(
        wrapped.filter((w) => w.payload.scheme === 'aes-256-gcm'),
        fc.nat(),
        (w, cut) => {
          const bytes = encodeEnvelope(w);
          const minimal = envelopeHeader(w.keyId, 'aes-256-gcm').length + 12 + 16 + 1;
          const n = cut % bytes.length;
          if (n >= minimal) {
            // Still long enough to parse: same key_id and nonce, a shorter sealed part that GCM will refuse.
            const d = decodeEnvelope(bytes.subarray(0, n));
            expect(d.keyId).toBe(w.keyId);
          } else {
            expect(() => decodeEnvelope(bytes.subarray(0, n))).toThrow(MalformedCiphertextError);
          }
        },
      ),
    );
  });

  it('the header (the associated data) differs for every different (key_id, scheme): no two keys share an AAD', () => {
    fc.assert(
      fc.property(keyId, scheme, keyId, scheme, (a, sa, b, sb) => {
        const same = Buffer.from(envelopeHeader(a, sa)).equals(Buffer.from(envelopeHeader(b, sb)));
        expect(same).toBe(a === b && sa === sb);
      }),
    );
  });

  it('the envelope is exactly 5 + UTF-8 bytes of the key_id + body, whatever characters the key_id uses', () => {
    fc.assert(
      fc.property(wrapped, (w) => {
        const p = w.payload;
        const body = p.scheme === 'aes-256-gcm' ? p.nonce.length + p.sealed.length : p.blob.length;
        expect(encodeEnvelope(w).length).toBe(5 + utf8(w.keyId) + body);
      }),
    );
  });

  it('a 32-byte seed sealed with AES-GCM fits the apiserver limit (1024) for every key_id up to 959 bytes', () => {
    // 5 + L + 12 + 32 + 16 ≤ 1024  ⇔  L ≤ 959
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1024 }), (L) => {
        const w: WrappedKey = {
          keyId: parseKeyId('k'.repeat(L)),
          payload: { scheme: 'aes-256-gcm', nonce: new Uint8Array(12), sealed: new Uint8Array(32 + 16) },
        };
        expect(encodeEnvelope(w).length <= 1024).toBe(L <= 959);
      }),
    );
  });

  it('a key_id length field that disagrees with the bytes after it never yields the original key_id', () => {
    fc.assert(
      fc.property(wrapped, fc.integer({ min: 0, max: 0xffff }), (w, len) => {
        const bytes = new Uint8Array(encodeEnvelope(w));
        const real = utf8(w.keyId);
        fc.pre(len !== real);
        bytes[3] = len >> 8;
        bytes[4] = len & 0xff;
        try {
          expect(decodeEnvelope(bytes).keyId).not.toBe(w.keyId);
        } catch (err) {
          expect(err).toBeInstanceOf(MalformedCiphertextError);
        }
      }),
    );
  });
});
