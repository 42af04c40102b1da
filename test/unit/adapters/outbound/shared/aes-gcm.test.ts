import { createSecretKey, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { gcmNonce, gcmOpen, gcmParts, gcmSeal } from '#src/adapters/outbound/shared/aes-gcm.js';
import { MalformedCiphertextError } from '#src/domain/model/errors.js';
import { GCM_NONCE_BYTES, GCM_TAG_BYTES } from '#src/domain/model/key-version.js';

const key = createSecretKey(randomBytes(32));
const aad = new TextEncoder().encode('header');
const seed = new Uint8Array(randomBytes(32));

describe('AES-256-GCM helpers', () => {
  it('seal and open round-trip with a fresh 96-bit nonce each time', () => {
    const a = gcmSeal(key, seed, aad);
    const b = gcmSeal(key, seed, aad);
    expect(gcmOpen(key, a, aad, 'local')).toEqual(seed);
    if (a.scheme !== 'aes-256-gcm' || b.scheme !== 'aes-256-gcm') throw new Error('scheme');
    expect(a.nonce).toHaveLength(GCM_NONCE_BYTES);
    expect(a.sealed).toHaveLength(seed.length + GCM_TAG_BYTES);
    expect(Buffer.from(a.nonce).equals(Buffer.from(b.nonce))).toBe(false);
    expect(gcmNonce()).toHaveLength(GCM_NONCE_BYTES);
  });

  it('refuses altered associated data or ciphertext as malformed', () => {
    const p = gcmSeal(key, seed, aad);
    expect(() => gcmOpen(key, p, new TextEncoder().encode('other'), 'local')).toThrow(MalformedCiphertextError);
    if (p.scheme !== 'aes-256-gcm') throw new Error('scheme');
    const flipped = { ...p, sealed: Uint8Array.from(p.sealed, (x, i) => (i === 0 ? x ^ 1 : x)) };
    expect(() => gcmOpen(key, flipped, aad, 'local')).toThrow('ciphertext failed authentication');
  });

  it('checks scheme and sizes before any key is used, naming the backend', () => {
    expect(() => gcmParts({ scheme: 'opaque', blob: new Uint8Array(8) }, 'pkcs11')).toThrow(
      'the pkcs11 backend cannot open a opaque payload',
    );
    const short = { scheme: 'aes-256-gcm' as const, nonce: new Uint8Array(8), sealed: new Uint8Array(40) };
    expect(() => gcmParts(short, 'local')).toThrow('ciphertext has the wrong nonce or tag size');
    const tagOnly = { scheme: 'aes-256-gcm' as const, nonce: new Uint8Array(12), sealed: new Uint8Array(16) };
    expect(() => gcmParts(tagOnly, 'local')).toThrow(MalformedCiphertextError);
  });
});
