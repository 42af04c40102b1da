import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { MalformedCiphertextError } from '../../../domain/model/errors.js';
import { GCM_NONCE_BYTES, GCM_TAG_BYTES, type WrappedPayload } from '../../../domain/model/key-version.js';

/**
 * AES-256-GCM done in-process, shared by the backends that hold key material
 * in kleidi itself (local keyring, in-memory fake). This is a library, not an
 * adapter: it knows no backend. Nonces are 96-bit random (NIST SP 800-38D
 * §8.2.2); with at most 2^32 wraps per KEK the collision bound holds, and the
 * apiserver asks for one wrap per DEK rotation, not per write.
 */
export function gcmSeal(key: KeyObject, plaintext: Uint8Array, aad: Uint8Array): WrappedPayload {
  const nonce = randomBytes(GCM_NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  const tag = cipher.getAuthTag();
  return { scheme: 'aes-256-gcm', nonce, sealed: Buffer.concat([body, final, tag]) };
}

/** Opens a sealed payload; an authentication failure is a MalformedCiphertextError. */
export function gcmOpen(key: KeyObject, payload: WrappedPayload, aad: Uint8Array): Uint8Array {
  if (payload.scheme !== 'aes-256-gcm') {
    throw new MalformedCiphertextError(`this backend cannot open a ${payload.scheme} payload`);
  }
  const { nonce, sealed } = payload;
  if (nonce.length !== GCM_NONCE_BYTES || sealed.length <= GCM_TAG_BYTES) {
    throw new MalformedCiphertextError('ciphertext is truncated');
  }
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
