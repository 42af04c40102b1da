import type { KeyVersion, KeyVersionInfo } from '../../domain/model/key-version.js';

/**
 * Key administration for one backend, behind `kleidi init | rotate | keys`.
 * Implementations are verified by test/contract/key-admin.contract.ts
 * against the real store (keyring file, PKCS#11 token, Vault server).
 *
 * Contract:
 * - No method ever returns key material: only the KeyVersionInfo fields.
 * - `init` is idempotent and never overwrites: when a version exists it is
 *   left untouched and returned with `created: false`, so data wrapped
 *   before still unwraps. Concurrent inits leave exactly one version and
 *   all return it; which of them reports `created: true` is exact only where
 *   the store can tell (Vault's transit create is an upsert that does not
 *   say whether it created the key).
 * - `rotate` adds exactly one version and makes it current; every older
 *   version stays usable for unwrap. A KeyWrapper on the same store reports
 *   the new version from its next `currentVersion`. Concurrent rotates from
 *   one process each add one version and each return their own. Across
 *   processes, a backend without a server-side lock (PKCS#11) detects a
 *   collision instead: at least one colliding rotate rejects, and `list`
 *   marks the version ambiguous.
 * - `list` returns every version oldest first (ascending `version`), exactly
 *   one of them `current` (the newest, unless a backend pins a version).
 * - `rotate` and `list` before any `init` reject with
 *   BackendMisconfiguredError naming `kleidi init`, and create nothing.
 * - Failures reject with a KmsError subclass; an aborted signal rejects with
 *   its reason and changes nothing.
 * A backend that cannot be administered outside the serving process
 * (in-memory) refuses to open a KeyAdmin with BackendMisconfiguredError.
 */
export interface KeyAdmin {
  readonly backend: string;
  /** Creates the first KEK when none exists; otherwise returns the current one with `created: false`. */
  init(signal: AbortSignal): Promise<{ created: boolean; current: KeyVersion }>;
  /** Adds a new current KEK and returns it; older versions stay usable for decryption. */
  rotate(signal: AbortSignal): Promise<KeyVersion>;
  /** Lists every version, oldest first. */
  list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]>;
  close(): Promise<void>;
}
