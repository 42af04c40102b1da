import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidRequestError, MalformedCiphertextError } from '../../../domain/model/errors.js';

/**
 * What kleidi asks Key Vault to wrap (docs/adr/0012-azure-key-vault.md):
 *   nonce[16] || SHA-256(envelope header)[32] || seed
 * RSA-OAEP and AES key wrap take no associated data, so the header (format and key_id) is bound
 * inside the wrapped bytes and checked after unwrap: a ciphertext moved to another key_id unwraps
 * to a digest that does not match. The nonce makes two wraps of one seed differ under AES key
 * wrap, which is deterministic (RFC 3394).
 */
const NONCE_BYTES = 16;
const DIGEST_BYTES = 32;
/** The size of the bound input before the seed; a multiple of 8, as AES key wrap needs. */
const BINDING_OVERHEAD = NONCE_BYTES + DIGEST_BYTES;

export function bindSeed(seed: Uint8Array, header: Uint8Array, blockMultiple: number): Buffer {
  if (seed.length === 0 || seed.length % blockMultiple !== 0) {
    throw new InvalidRequestError(
      `a seed of ${seed.length} bytes cannot be wrapped here (a multiple of ${blockMultiple})`,
    );
  }
  return Buffer.concat([randomBytes(NONCE_BYTES), digest(header), seed]);
}

/** The seed inside an unwrapped value, after checking the header digest; MalformedCiphertextError otherwise. */
export function openBoundSeed(bound: Uint8Array, header: Uint8Array): Uint8Array {
  if (bound.length <= BINDING_OVERHEAD) throw new MalformedCiphertextError('the unwrapped value is too short');
  const given = bound.subarray(NONCE_BYTES, BINDING_OVERHEAD);
  if (!timingSafeEqual(given, digest(header))) {
    throw new MalformedCiphertextError('the ciphertext was wrapped for another key_id or envelope format');
  }
  return Uint8Array.from(bound.subarray(BINDING_OVERHEAD));
}

function digest(header: Uint8Array): Buffer {
  return createHash('sha256').update(header).digest();
}
