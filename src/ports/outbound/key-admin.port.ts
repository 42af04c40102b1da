import type { KeyVersion, KeyVersionInfo, RetiredVersion } from '../../domain/model/key-version.js';

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
 * - Two-phase rotation (only where `staging` is true: backends whose key
 *   material is copied from node to node — keyring files, token copies, TPM
 *   blobs): `stage` adds exactly one version above every other, listed with
 *   `current: false` and note `staged`; `currentVersion` of a KeyWrapper does
 *   not change, yet a KeyWrapper unwraps data wrapped under the staged
 *   version (a node that promoted earlier may already write under it).
 *   `promote(v)` makes the staged version v current. While a version is
 *   staged, `stage` and `rotate` reject with InvalidRequestError (promote it
 *   first). `promote` of a version that is not staged rejects with
 *   InvalidRequestError, of one that does not exist with
 *   KeyVersionUnknownError. Backends without staging reject `stage` and
 *   `promote` with OperationUnsupportedError and change nothing.
 * - `retire(v)` applies only to a version older than the current one; it
 *   rejects the current version or a staged one with InvalidRequestError and
 *   an unknown one with KeyVersionUnknownError. Afterwards a KeyWrapper's
 *   unwrap of data wrapped under v rejects with KeyVersionUnknownError or
 *   KeyUnusableError, data under every other live version still unwraps, the
 *   current version is unchanged, and `list` either omits v or shows it with
 *   note `retired`. Retiring a retired version rejects with
 *   InvalidRequestError. Where `retireInOrder` is true (Vault's
 *   min_decryption_version retires every version below it) retiring v while
 *   an older version is live rejects with InvalidRequestError naming it.
 *   Whether data still depends on v is the caller's question (`kleidi retire`
 *   asks etcd); the backend only guards its own invariants. A backend whose
 *   store cannot disable or remove one version while the others keep working
 *   (`retiring` false: DSV can delete only a whole key) rejects every `retire`
 *   with OperationUnsupportedError and changes nothing.
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
  /** Whether `stage` and `promote` are supported (two-phase rotation). */
  readonly staging: boolean;
  /**
   * Whether `retire` is supported. False only where the store itself has no way to retire one
   * version (Delinea remote mode; docs/adr/0022-retiring-server-held-versions.md).
   */
  readonly retiring: boolean;
  /** Whether versions can only be retired oldest first. */
  readonly retireInOrder: boolean;
  /** Two-phase rotation, phase 1: adds a version every node can unwrap with, not yet current. */
  stage(signal: AbortSignal): Promise<KeyVersion>;
  /** Two-phase rotation, phase 2: makes the staged `version` current. */
  promote(version: number, signal: AbortSignal): Promise<KeyVersion>;
  /** Makes an old version unable to unwrap (removes, destroys or disables it) and says how. */
  retire(version: number, signal: AbortSignal): Promise<RetiredVersion>;
  close(): Promise<void>;
}
