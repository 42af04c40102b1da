import type { KeyId } from './key-id.js';

/**
 * One version of a key-encryption key, as a backend reports it. `keyId` is
 * what Status and Encrypt return; `version` orders versions of the same key.
 */
export interface KeyVersion {
  readonly keyId: KeyId;
  readonly version: number;
  /** ISO-8601 creation time when the backend knows it. */
  readonly createdAt?: string;
}

/** A key version as listed by `kleidi keys`: never key material. */
export interface KeyVersionInfo extends KeyVersion {
  readonly current: boolean;
  /** Backend-specific state worth showing an operator, e.g. "decrypt-only". */
  readonly note?: string;
}

/** What `retire` did to a version, in an operator's words. */
export interface RetiredVersion extends KeyVersion {
  /**
   * How the version was retired, e.g. "removed from the keyring", "destroyed on the token",
   * "min_decryption_version raised to 3", "disabled". Never key material.
   */
  readonly action: string;
  /** Where a copy was kept before removing it (the local keyring's backup file), when one was. */
  readonly backup?: string;
}

/** What a backend produced when it wrapped a data key. */
export type WrappedPayload =
  /** AES-256-GCM done by kleidi's keyring or inside a PKCS#11 token. */
  | { readonly scheme: 'aes-256-gcm'; readonly nonce: Uint8Array; readonly sealed: Uint8Array }
  /** A blob only the backend can interpret, e.g. Vault transit's `vault:vN:…`. */
  | { readonly scheme: 'opaque'; readonly blob: Uint8Array };

/** A wrapped data key together with the key version that wrapped it. */
export interface WrappedKey {
  readonly keyId: KeyId;
  readonly payload: WrappedPayload;
}

/** AES-GCM sizes used by every aes-256-gcm backend (NIST SP 800-38D: 96-bit IV, 128-bit tag). */
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;
