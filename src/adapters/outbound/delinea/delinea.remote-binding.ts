import { createHash, timingSafeEqual } from 'node:crypto';
import { MalformedCiphertextError } from '../../../domain/model/errors.js';

/** The first byte of every plaintext remote mode sends to DSV: this layout's version. */
const BOUND_V1 = 0x01;
const DIGEST = 32;
const PREFIX = 1 + DIGEST;

/**
 * The plaintext remote mode hands DSV: `0x01 || SHA-256(envelope header) || seed`. DSV's encrypt
 * takes no associated data, so the header (format, scheme, key_id) is bound inside what DSV
 * encrypts, and `openBound` refuses a seed whose digest does not match the header it is
 * presented under (docs/adr/0013-delinea-backend.md). No nonce of ours: DSV's ciphertexts are
 * already randomised, and the digest only has to be recomputable from the header.
 */
export function bindSeed(header: Uint8Array, seed: Uint8Array): Uint8Array {
  const out = new Uint8Array(PREFIX + seed.length);
  out[0] = BOUND_V1;
  out.set(createHash('sha256').update(header).digest(), 1);
  out.set(seed, PREFIX);
  return out;
}

/** The seed inside `bound`, if `bound` was made by bindSeed for exactly `header`. */
export function openBound(header: Uint8Array, bound: Uint8Array, where: string): Uint8Array {
  if (bound.length <= PREFIX || bound[0] !== BOUND_V1) {
    throw new MalformedCiphertextError(`${where} decrypted something that is not a kleidi seed`);
  }
  const digest = createHash('sha256').update(header).digest();
  if (!timingSafeEqual(digest, bound.subarray(1, PREFIX))) {
    throw new MalformedCiphertextError(`${where}: the ciphertext was made for another key_id or format`);
  }
  return bound.slice(PREFIX);
}
