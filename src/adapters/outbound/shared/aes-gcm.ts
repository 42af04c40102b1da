import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { MalformedCiphertextError } from '../../../domain/model/errors.js';
import { GCM_NONCE_BYTES, GCM_TAG_BYTES, type WrappedPayload } from '../../../domain/model/key-version.js';

/**
 * A fresh AES-GCM nonce: 96 bits from the CSPRNG (NIST SP 800-38D §8.2.2,
 * https://csrc.nist.gov/pubs/sp/800/38/d/final); with at most 2^32 wraps per
 * KEK the collision bound holds, and the apiserver asks for one wrap per DEK
 * rotation, not per write. Every aes-256-gcm backend draws its nonces here,
 * whether the cipher runs in-process or in a token.
 */
export function gcmNonce(): Buffer {
  return randomBytes(GCM_NONCE_BYTES);
}

/**
 * The nonce and sealed bytes (ciphertext || tag) of an aes-256-gcm payload,
 * checked before any key is touched: another scheme, or sizes that cannot be
 * AES-GCM, are a MalformedCiphertextError naming `backend`.
 */
export function gcmParts(payload: WrappedPayload, backend: string): { nonce: Uint8Array; sealed: Uint8Array } {
  if (payload.scheme !== 'aes-256-gcm') {
    throw new MalformedCiphertextError(`the ${backend} backend cannot open a ${payload.scheme} payload`);
  }
  const { nonce, sealed } = payload;
  if (nonce.length !== GCM_NONCE_BYTES || sealed.length <= GCM_TAG_BYTES) {
    throw new MalformedCiphertextError('ciphertext has the wrong nonce or tag size');
  }
  return { nonce, sealed };
}

/**
 * AES-256-GCM done in-process, shared by the backends that hold key material
 * in kleidi itself (local keyring, in-memory fake). This is a library, not an
 * adapter: it knows no backend.
 */
export function gcmSeal(key: KeyObject, plaintext: Uint8Array, aad: Uint8Array): WrappedPayload {
  const nonce = gcmNonce();
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  const tag = cipher.getAuthTag();
  return { scheme: 'aes-256-gcm', nonce, sealed: Buffer.concat([body, final, tag]) };
}

/** Opens a sealed payload; an authentication failure is a MalformedCiphertextError. */
export function gcmOpen(key: KeyObject, payload: WrappedPayload, aad: Uint8Array, backend: string): Uint8Array {
  const { nonce, sealed } = gcmParts(payload, backend);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
  try {
    const body = decipher.update(sealed.subarray(0, sealed.length - GCM_TAG_BYTES));
    return new Uint8Array(Buffer.concat([body, decipher.final()]));
  } catch (cause) {
    throw new MalformedCiphertextError('ciphertext failed authentication', { cause });
  }
}
