import type { KeyVersion, WrappedKey } from '../../domain/model/key-version.js';

/**
 * Wraps data-key seeds with a key-encryption key (KEK) held by the local
 * keyring, a PKCS#11 token or Vault transit. Implementations are verified by
 * test/contract/key-wrapper.contract.ts.
 *
 * Contract:
 * - `unwrap(await wrap(k, v))` yields `k`, also after the KEK was rotated.
 * - `wrap` uses exactly the version it is given and reports it in the result;
 *   it never re-reads "latest" separately (that race is a known peer bug).
 * - Two wraps of the same seed produce different bytes.
 * - Backends that support associated data bind `envelopeHeader(keyId, scheme)`
 *   (domain/model/envelope.ts), so format and key_id are authenticated.
 * - Failures reject with a KmsError subclass; vendor errors never escape.
 *   Tampered input → MalformedCiphertextError; a key_id this backend never
 *   issued → KeyVersionUnknownError.
 * - An aborted signal rejects with the signal's reason (a KmsError) without
 *   waiting for the backend.
 */
export interface KeyWrapper {
  /** Short backend name for logs and metrics, e.g. "local". */
  readonly backend: string;
  /** Reads the version Encrypt should use now from the backend (not cached). */
  currentVersion(signal: AbortSignal): Promise<KeyVersion>;
  wrap(seed: Uint8Array, version: KeyVersion, signal: AbortSignal): Promise<WrappedKey>;
  unwrap(wrapped: WrappedKey, signal: AbortSignal): Promise<Uint8Array>;
  /** Releases sessions, timers and key material. Idempotent. */
  close(): Promise<void>;
}
