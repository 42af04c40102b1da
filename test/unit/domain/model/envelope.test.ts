import { describe, expect, it } from 'vitest';
import {
  decodeEnvelope,
  encodeEnvelope,
  ENVELOPE_FORMAT,
  ENVELOPE_MAGIC,
  envelopeAnnotations,
  envelopeHeader,
  FORMAT_ANNOTATION_KEY,
} from '#src/domain/model/envelope.js';
import { validateAnnotations } from '#src/domain/model/annotations.js';
import { MalformedCiphertextError } from '#src/domain/model/errors.js';
import { parseKeyId } from '#src/domain/model/key-id.js';
import type { WrappedKey } from '#src/domain/model/key-version.js';

const enc = (s: string) => new TextEncoder().encode(s);
const filled = (n: number, v: number) => new Uint8Array(n).fill(v);
const gcm = (keyId = 'local:v1:abcdef'): WrappedKey => ({
  keyId: parseKeyId(keyId),
  payload: { scheme: 'aes-256-gcm', nonce: filled(12, 1), sealed: filled(48, 2) },
});
const opaque = (keyId = 'vault:transit:k8s:v7'): WrappedKey => ({
  keyId: parseKeyId(keyId),
  payload: { scheme: 'opaque', blob: enc('vault:v7:c2VjcmV0') },
});
const withByte = (b: Uint8Array, i: number, v: number) => {
  const c = new Uint8Array(b);
  c[i] = v;
  return c;
};
const malformed = (b: Uint8Array, msg?: RegExp) => {
  expect(() => decodeEnvelope(b)).toThrow(MalformedCiphertextError);
  if (msg) expect(() => decodeEnvelope(b)).toThrow(msg);
};

describe('envelope layout', () => {
  it('writes magic, format, scheme, big-endian key_id length, key_id, then the body', () => {
    const b = encodeEnvelope(gcm());
    expect([...b.subarray(0, 5)]).toEqual([ENVELOPE_MAGIC, ENVELOPE_FORMAT, 1, 0, 15]);
    expect(new TextDecoder().decode(b.subarray(5, 20))).toBe('local:v1:abcdef');
    expect(b.subarray(20, 32)).toEqual(filled(12, 1));
    expect(b.subarray(32)).toEqual(filled(48, 2));
    expect(b).toHaveLength(5 + 15 + 12 + 48);
    expect(encodeEnvelope(opaque())[2]).toBe(2);
  });

  it('encodes key_id lengths above 255 big-endian, in bytes', () => {
    const id = `${'x'.repeat(297)}€`; // 300 bytes
    const b = encodeEnvelope(gcm(id));
    expect([b[3], b[4]]).toEqual([1, 44]);
  });

  it.each([
    ['aes-256-gcm', gcm()],
    ['opaque', opaque()],
  ] as const)('%s: the header is exactly the prefix of the envelope (the AEAD associated data)', (scheme, w) => {
    const header = envelopeHeader(w.keyId, scheme);
    const b = encodeEnvelope(w);
    expect(b.subarray(0, header.length)).toEqual(header);
    expect(envelopeHeader(w.keyId, scheme)).not.toEqual(
      envelopeHeader(w.keyId, scheme === 'opaque' ? 'aes-256-gcm' : 'opaque'),
    );
  });
});

describe('encode/decode round trip', () => {
  it.each([
    ['aes-256-gcm', gcm()],
    ['opaque', opaque()],
    ['multibyte key_id', gcm('ключ:v1:😀')],
    ['1024-byte key_id', opaque('k'.repeat(1024))],
  ])('%s', (_what, w) => {
    expect(decodeEnvelope(encodeEnvelope(w))).toEqual({ format: ENVELOPE_FORMAT, ...w });
  });

  it('authenticates the key_id bytes as received: a UTF-8 BOM inserted before it is not dropped', () => {
    const original = encodeEnvelope(gcm());
    const id = original.subarray(5, 5 + 'local:v1:abcdef'.length);
    // The same envelope with EF BB BF before the key_id and the length fixed up.
    const tampered = new Uint8Array([
      ...original.subarray(0, 3),
      0,
      id.length + 3,
      0xef,
      0xbb,
      0xbf,
      ...original.subarray(5),
    ]);
    const decoded = decodeEnvelope(tampered);
    // Another key_id than the original, so no backend unwraps it under the original's key,
    expect(decoded.keyId).toBe('\uFEFFlocal:v1:abcdef');
    // and the header a backend binds (rebuilt from the key_id) is exactly the bytes received.
    expect(encodeEnvelope(decoded)).toEqual(tampered);
  });
});

describe('envelopeAnnotations', () => {
  it('issues version.kleidi.io = "<format>", a valid annotation set', () => {
    expect(FORMAT_ANNOTATION_KEY).toBe('version.kleidi.io');
    expect(envelopeAnnotations()).toEqual({ 'version.kleidi.io': enc('1') });
    expect(envelopeAnnotations(2)).toEqual({ 'version.kleidi.io': enc('2') });
    expect(() => validateAnnotations(envelopeAnnotations())).not.toThrow();
  });
});

describe('decodeEnvelope refuses malformed bytes', () => {
  it.each([
    ['aes-256-gcm', gcm()],
    ['opaque', opaque()],
  ])('%s: every truncation is refused or decodes to something else', (_what, w) => {
    const full = encodeEnvelope(w);
    for (let len = 0; len < full.length; len++) {
      const cut = full.slice(0, len);
      let decoded: ReturnType<typeof decodeEnvelope> | undefined;
      try {
        decoded = decodeEnvelope(cut);
      } catch (err) {
        expect(err, `length ${len}`).toBeInstanceOf(MalformedCiphertextError);
        continue;
      }
      expect(decoded, `length ${len}`).not.toEqual({ format: ENVELOPE_FORMAT, ...w });
      expect(decoded.keyId).toBe(w.keyId); // only the body can be cut while still decoding
    }
  });

  it('refuses a GCM body shorter than nonce + tag + 1 byte', () => {
    const full = encodeEnvelope(gcm());
    const header = 5 + 15;
    malformed(full.slice(0, header + 28), /truncated/);
    expect(() => decodeEnvelope(full.slice(0, header + 29))).not.toThrow();
  });

  it('refuses wrong magic, unknown format and unknown scheme', () => {
    const b = encodeEnvelope(gcm());
    malformed(withByte(b, 0, 0x4c), /not a kleidi envelope/);
    malformed(withByte(b, 1, 0), /unsupported envelope format 0/);
    malformed(withByte(b, 1, 2), /unsupported envelope format 2/);
    for (const s of [0, 3, 255]) malformed(withByte(b, 2, s), new RegExp(`unknown envelope scheme ${s}`));
  });

  it('refuses an empty key_id, a key_id longer than the bytes, and one over 1024 bytes', () => {
    const b = encodeEnvelope(gcm());
    malformed(withByte(withByte(b, 3, 0), 4, 0), /truncated/);
    malformed(withByte(b, 3, 0xff), /truncated/);
    const long = new Uint8Array([ENVELOPE_MAGIC, 1, 2, 0x04, 0x01, ...filled(1025, 0x61), 9]);
    malformed(long, /invalid key_id/);
  });

  it('refuses a key_id that is not valid UTF-8, keeping the cause', () => {
    const b = encodeEnvelope(gcm());
    const bad = withByte(b, 5, 0xff);
    malformed(bad, /invalid key_id/);
    try {
      decodeEnvelope(bad);
    } catch (err) {
      expect((err as Error).cause).toBeInstanceOf(TypeError);
    }
  });

  it('refuses a header with no body at all, for both schemes', () => {
    for (const w of [gcm(), opaque()]) {
      malformed(envelopeHeader(w.keyId, w.payload.scheme), /truncated/);
    }
  });
});
