import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, ENVELOPE_FORMAT, envelopeHeader } from '#src/domain/model/envelope.js';
import { KmsError, MalformedCiphertextError } from '#src/domain/model/errors.js';
import { parseKeyId } from '#src/domain/model/key-id.js';
import type { WrappedKey } from '#src/domain/model/key-version.js';

const keyId = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 300 })
  .filter((s) => new TextEncoder().encode(s).length <= 1024)
  .map(parseKeyId);

const wrappedKey: fc.Arbitrary<WrappedKey> = fc.oneof(
  fc.record({
    keyId,
    payload: fc.record({
      scheme: fc.constant('aes-256-gcm' as const),
      nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
      sealed: fc.uint8Array({ minLength: 17, maxLength: 600 }),
    }),
  }),
  fc.record({
    keyId,
    payload: fc.record({
      scheme: fc.constant('opaque' as const),
      blob: fc.uint8Array({ minLength: 1, maxLength: 600 }),
    }),
  }),
);

/** Bytes that get past the magic/format checks, so the deeper parser is exercised too. */
const plausible = fc
  .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 40 }), fc.uint8Array({ maxLength: 120 }))
  .map(([scheme, idLen, rest]) => new Uint8Array([0x4b, 1, scheme, 0, idLen, ...rest]));

function decodeOrKmsError(b: Uint8Array): void {
  try {
    decodeEnvelope(b);
  } catch (err) {
    expect(err).toBeInstanceOf(KmsError);
    expect(err).toBeInstanceOf(MalformedCiphertextError);
  }
}

describe('envelope codec properties', () => {
  it('decode(encode(w)) is w', () => {
    fc.assert(
      fc.property(wrappedKey, (w) => {
        expect(decodeEnvelope(encodeEnvelope(w))).toEqual({ format: ENVELOPE_FORMAT, ...w });
      }),
    );
  });

  it('the header of every encoding is envelopeHeader(keyId, scheme)', () => {
    fc.assert(
      fc.property(wrappedKey, (w) => {
        const h = envelopeHeader(w.keyId, w.payload.scheme);
        expect(encodeEnvelope(w).subarray(0, h.length)).toEqual(h);
      }),
    );
  });

  it('random bytes never raise anything but MalformedCiphertextError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1100 }), decodeOrKmsError), { numRuns: 500 });
    fc.assert(fc.property(plausible, decodeOrKmsError), { numRuns: 1000 });
  });

  it('whatever decodes re-encodes to the same bytes (one encoding per envelope)', () => {
    fc.assert(
      fc.property(plausible, (b) => {
        let decoded: ReturnType<typeof decodeEnvelope>;
        try {
          decoded = decodeEnvelope(b);
        } catch {
          return;
        }
        expect(encodeEnvelope(decoded)).toEqual(b);
      }),
      { numRuns: 1000 },
    );
  });

  it('flipping any header byte never yields the same key_id and scheme silently', () => {
    fc.assert(
      fc.property(wrappedKey, fc.nat(), fc.integer({ min: 1, max: 255 }), (w, at, x) => {
        const b = encodeEnvelope(w);
        const headerLen = envelopeHeader(w.keyId, w.payload.scheme).length;
        const i = at % headerLen;
        const c = new Uint8Array(b);
        c[i] = (c[i] ?? 0) ^ x;
        try {
          const d = decodeEnvelope(c);
          expect(d.keyId === w.keyId && d.payload.scheme === w.payload.scheme).toBe(false);
        } catch (err) {
          expect(err).toBeInstanceOf(MalformedCiphertextError);
        }
      }),
    );
  });
});
