import type { KeyVersion, KeyVersionInfo } from '../../domain/model/key-version.js';

/**
 * Key administration for one backend, behind `kleidi init | rotate | keys`.
 * Every backend implements it; no method ever returns key material.
 */
export interface KeyAdmin {
  readonly backend: string;
  /**
   * Creates the first KEK when none exists. Idempotent: when a key exists it
   * is left untouched and returned with `created: false`.
   */
  init(signal: AbortSignal): Promise<{ created: boolean; current: KeyVersion }>;
  /** Adds a new current KEK; older versions stay usable for decryption. */
  rotate(signal: AbortSignal): Promise<KeyVersion>;
  /** Lists every version, oldest first. */
  list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]>;
  close(): Promise<void>;
}
