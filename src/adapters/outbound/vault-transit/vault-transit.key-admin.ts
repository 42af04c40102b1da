import { refuseStaging } from '../shared/admin-refusals.js';
import {
  BackendMisconfiguredError,
  BackendUnavailableError,
  InvalidRequestError,
  KeyVersionUnknownError,
} from '../../../domain/model/errors.js';
import type { KeyVersion, KeyVersionInfo, RetiredVersion } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { transitKeyVersion } from './vault-transit.key-id.js';
import type { TransitKeyInfo } from './vault-transit.responses.js';
import { assertUsableKey, type TransitApi } from './vault-transit.transit.js';

/** AES-256-GCM: transit's default and an AEAD type, so kleidi can bind its envelope header. */
const NEW_KEY_TYPE = 'aes256-gcm96';

/**
 * `kleidi init | rotate | keys` on a transit key. Rotation happens in Vault
 * (here or with `vault write -f <mount>/keys/<key>/rotate`); running plugins
 * pick it up at their next background refresh.
 */
export class VaultTransitKeyAdmin implements KeyAdmin {
  readonly backend = 'vault';
  readonly staging = false;
  readonly retiring = true;
  readonly retireInOrder = true;
  readonly stage = refuseStaging(this);
  readonly promote = refuseStaging(this);

  constructor(
    private readonly api: TransitApi,
    private readonly log: Logger,
    private readonly onClose: () => void,
  ) {}

  async init(signal: AbortSignal): Promise<{ created: boolean; current: KeyVersion }> {
    throwIfAborted(signal);
    const existing = await this.api.readKey(signal);
    if (existing) return { created: false, current: this.latest(existing) };
    try {
      await this.api.createKey(NEW_KEY_TYPE, signal);
    } catch (err) {
      if (err instanceof BackendMisconfiguredError) {
        const { mount, key } = this.api.ref;
        throw new BackendMisconfiguredError(
          `${err.message}. If kleidi's policy may not create keys, create it once with ` +
            `\`vault write -f ${mount}/keys/${key} type=${NEW_KEY_TYPE}\``,
          { cause: err },
        );
      }
      throw err;
    }
    const current = this.latest(await this.mustRead(signal));
    this.log.info({ keyId: current.keyId, mount: this.api.ref.mount, key: this.api.ref.key }, 'transit key created');
    return { created: true, current };
  }

  async rotate(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    let rotated: TransitKeyInfo | undefined;
    try {
      rotated = await this.api.rotate(signal);
    } catch (err) {
      // Vault answers a rotate of a missing key 400 "key not found": say what to do, as `list` does.
      if (err instanceof BackendMisconfiguredError && !(await this.api.readKey(signal))) {
        throw this.missing({ cause: err });
      }
      throw err;
    }
    // The rotate answer names the version this call added; re-reading could name a later one.
    const current = this.latest(rotated ?? (await this.mustRead(signal)));
    this.log.info({ keyId: current.keyId, version: current.version }, 'transit key rotated');
    return current;
  }

  /**
   * Versions that can still decrypt, oldest first. Versions below
   * min_decryption_version are archived by Vault and not listed (Vault does
   * not report their creation time, which their key_id needs).
   */
  async list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]> {
    throwIfAborted(signal);
    const info = await this.mustRead(signal);
    return [...info.versions.keys()]
      .sort((a, b) => a - b)
      .map((n) => {
        const v = transitKeyVersion(this.api.ref, n, info.versions.get(n) ?? 0);
        const current = n === info.latestVersion;
        return { ...v, current, ...(current ? {} : { note: 'decrypt-only' }) };
      });
  }

  /**
   * Raises min_decryption_version to `version + 1`, which retires `version` and everything
   * below it at once; hence only the oldest live version (min_decryption_version itself) may be
   * retired. Vault keeps the archived versions: lowering min_decryption_version again
   * (`vault write <mount>/keys/<key>/config min_decryption_version=N`) brings them back, and
   * only `.../trim` would delete them, which kleidi never does. A min_encryption_version set
   * below the new minimum is raised with it, as Vault refuses one below min_decryption_version.
   */
  async retire(version: number, signal: AbortSignal): Promise<RetiredVersion> {
    throwIfAborted(signal);
    const info = await this.mustRead(signal);
    const { key } = this.api.ref;
    const created = info.versions.get(version);
    if (!Number.isSafeInteger(version) || version < 1 || version > info.latestVersion) {
      throw new KeyVersionUnknownError(`transit key ${key} has no version ${version}`);
    }
    if (version === info.latestVersion) {
      throw new InvalidRequestError(`version ${version} is the current version of transit key ${key}`);
    }
    if (version < info.minDecryptionVersion || created === undefined) {
      throw new InvalidRequestError(
        `version ${version} of transit key ${key} is already retired (min_decryption_version is ${info.minDecryptionVersion})`,
      );
    }
    if (version > info.minDecryptionVersion) {
      const older = info.minDecryptionVersion;
      throw new InvalidRequestError(
        `version ${older} of transit key ${key} is older and still decrypts: transit retires every version below ` +
          `min_decryption_version, so retire version ${older} first`,
      );
    }
    const min = version + 1;
    const raiseEncryption = info.minEncryptionVersion > 0 && info.minEncryptionVersion < min;
    await this.api
      .setMinimumVersions({ decryption: min, ...(raiseEncryption ? { encryption: min } : {}) }, signal)
      .catch((err: unknown) => {
        if (!(err instanceof BackendMisconfiguredError)) throw err;
        const { mount } = this.api.ref;
        throw new BackendMisconfiguredError(
          `${err.message}. Retiring needs the \`update\` capability on ${mount}/keys/${key}/config`,
          { cause: err },
        );
      });
    const retired = transitKeyVersion(this.api.ref, version, created);
    this.log.info({ keyId: retired.keyId, minDecryptionVersion: min }, 'transit key version retired');
    return {
      ...retired,
      action:
        `min_decryption_version raised to ${min}${raiseEncryption ? ' (and min_encryption_version with it)' : ''}; ` +
        'Vault keeps the version archived: lowering min_decryption_version again restores it',
    };
  }

  close(): Promise<void> {
    this.onClose();
    return Promise.resolve();
  }

  private latest(info: TransitKeyInfo): KeyVersion {
    assertUsableKey(this.api.ref, info);
    const created = info.versions.get(info.latestVersion);
    if (created === undefined)
      throw new BackendUnavailableError('Vault reported no creation time for the latest key version');
    return transitKeyVersion(this.api.ref, info.latestVersion, created);
  }

  private async mustRead(signal: AbortSignal): Promise<TransitKeyInfo> {
    const info = await this.api.readKey(signal);
    if (info) return info;
    throw this.missing();
  }

  private missing(opts?: ErrorOptions): BackendMisconfiguredError {
    const { key, mount } = this.api.ref;
    return new BackendMisconfiguredError(
      `transit key ${key} does not exist at mount ${mount}; run \`kleidi init\` first`,
      opts,
    );
  }
}
