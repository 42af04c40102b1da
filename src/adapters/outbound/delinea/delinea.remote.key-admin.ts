import { noRetire, refuseStaging } from '../shared/admin-refusals.js';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { KeyVersion, KeyVersionInfo, RetiredVersion } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import type { DelineaApi } from './delinea.api.js';
import type { DsvCrypto } from './delinea.dsv-crypto.js';
import { type KeyScope, scopedKeyVersion } from './delinea.key-id.js';
import { serialised } from './delinea.lock.js';

/**
 * `kleidi init | rotate | keys` in remote mode. init creates the DSV auto key when it does not
 * exist; rotate encrypts a random probe with the current version and asks DSV to re-encrypt it
 * with a new version (`POST /v1/crypto/rotate` without `endingVersion`), which is how a DSV auto
 * key gets its next version; keys lists versions 1..current (DSV numbers them consecutively).
 * Within one process these are serialised per key.
 */
export class RemoteKeyAdmin implements KeyAdmin {
  readonly backend = 'delinea';
  readonly staging = false;
  /** DSV auto keys have no per-version state: only the whole key can be deleted (see retire). */
  readonly retiring = false;
  readonly retireInOrder = false;
  readonly stage = refuseStaging(this);
  readonly promote = refuseStaging(this);

  constructor(
    private readonly api: DelineaApi,
    private readonly key: DsvCrypto,
    private readonly scope: KeyScope,
    private readonly log: Logger,
  ) {}

  private get lockKey(): string {
    return `${this.scope.host}|remote|${this.scope.object}`;
  }

  async init(signal: AbortSignal): Promise<{ created: boolean; current: KeyVersion }> {
    throwIfAborted(signal);
    return serialised(this.lockKey, async () => {
      throwIfAborted(signal);
      if (await this.key.exists(signal)) return { created: false, current: await this.current(signal) };
      try {
        await this.key.create(signal);
      } catch (err) {
        // Another node created it in the meantime: DSV refuses to create an existing key.
        if (await this.key.exists(signal)) return { created: false, current: await this.current(signal) };
        throw err;
      }
      this.log.info({ key: this.key.path }, 'DSV key created');
      return { created: true, current: await this.current(signal) };
    });
  }

  async rotate(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    return serialised(this.lockKey, async () => {
      throwIfAborted(signal);
      await this.requireKey(signal);
      const probe = crypto.getRandomValues(new Uint8Array(32));
      const before = await this.key.encrypt(probe, undefined, signal);
      const after = await this.key.rotate(before.ciphertext, before.version, signal);
      if (after.version <= before.version) {
        throw new BackendMisconfiguredError(`${this.key.where}: rotate did not create a new version`);
      }
      this.log.info({ key: this.key.path, version: after.version }, 'DSV key rotated');
      return scopedKeyVersion(this.scope, after.version, undefined);
    });
  }

  async list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]> {
    await this.requireKey(signal);
    const current = await this.current(signal);
    return Array.from({ length: current.version }, (_, i) => ({
      ...scopedKeyVersion(this.scope, i + 1, undefined),
      current: i + 1 === current.version,
    }));
  }

  /**
   * Refused: DSV's encryption API offers create, read, delete (of the whole key, every version
   * with it), restore, encrypt, decrypt and rotate on an auto key, and nothing that disables or
   * removes one version (the DSV CLI's `crypto` commands,
   * https://github.com/DelineaXPM/dsv-cli/blob/main/commands/encryption_auto.go).
   */
  retire(): Promise<RetiredVersion> {
    return Promise.reject(noRetire(this.backend, 'remote mode: DSV can delete only a whole key, never one version'));
  }

  close(): Promise<void> {
    this.api.close();
    return Promise.resolve();
  }

  private async current(signal: AbortSignal): Promise<KeyVersion> {
    const { version } = await this.key.encrypt(new Uint8Array(16), undefined, signal);
    return scopedKeyVersion(this.scope, version, undefined);
  }

  private async requireKey(signal: AbortSignal): Promise<void> {
    if (!(await this.key.exists(signal))) {
      throw new BackendMisconfiguredError(`${this.key.where} does not exist yet; run \`kleidi init\` first`);
    }
  }
}
