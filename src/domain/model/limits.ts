import { InvalidRequestError } from './errors.js';

/**
 * Limits kube-apiserver enforces on plugin responses
 * (ValidateEncryptedObject and its constants in
 * https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/envelope.go).
 * A response that breaks one is discarded by the apiserver, so we refuse to
 * produce it in the first place.
 */
export const KEY_ID_MAX_BYTES = 1024; // KeyIDMaxSize; the check is `>`, so 1024 passes
export const CIPHERTEXT_MAX_BYTES = 1024; // encryptedDEKSourceMaxSize
export const ANNOTATIONS_MAX_BYTES = 32 * 1024; // annotationsMaxSize, sum of key+value lengths

/**
 * Largest plaintext we accept. The apiserver sends 32-byte seeds; anything
 * bigger than the ciphertext limit can never produce a valid envelope.
 */
const PLAINTEXT_MAX_BYTES = CIPHERTEXT_MAX_BYTES;

const encoder = new TextEncoder();

/** UTF-8 length of a string, the unit every apiserver limit is measured in. */
export function utf8Length(s: string): number {
  return encoder.encode(s).length;
}

/** Rejects an empty or oversized plaintext before any backend work. */
export function validatePlaintext(plaintext: Uint8Array): void {
  if (plaintext.length === 0) {
    throw new InvalidRequestError('plaintext must not be empty');
  }
  if (plaintext.length > PLAINTEXT_MAX_BYTES) {
    throw new InvalidRequestError(
      `plaintext is ${plaintext.length} bytes; at most ${PLAINTEXT_MAX_BYTES} fit in a ciphertext`,
    );
  }
}

/** Rejects a ciphertext outside 1..1024 bytes, as the apiserver's ValidateEncryptedObject does. */
export function validateCiphertextSize(ciphertext: Uint8Array, what = 'ciphertext'): void {
  if (ciphertext.length === 0) {
    throw new InvalidRequestError(`${what} must not be empty`);
  }
  if (ciphertext.length > CIPHERTEXT_MAX_BYTES) {
    throw new InvalidRequestError(
      `${what} is ${ciphertext.length} bytes; the apiserver accepts at most ${CIPHERTEXT_MAX_BYTES}`,
    );
  }
}
