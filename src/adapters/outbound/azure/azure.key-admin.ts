import { refuseStaging } from '../shared/admin-refusals.js';
import type { KeyProperties, KeyVaultKey } from '@azure/keyvault-keys';
import {
  BackendMisconfiguredError,
  InvalidRequestError,
  KeyVersionUnknownError,
  type KmsError,
} from '../../../domain/model/errors.js';
import type { KeyVersion, KeyVersionInfo, RetiredVersion } from '../../../domain/model/key-version.js';
import { abortable, throwIfAborted } from '../../../domain/services/abortable.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import type { VaultApi } from './azure.client.js';
import { AzureCallFailure, classifyFailure, toKmsError } from './azure.errors.js';
import { assertWrapCapable, stateProblem, versionOfProperties } from './azure.keys.js';
import type { VaultRef } from './azure.key-wrapper.js';
import { sleep } from '../shared/sleep.js';

/** What `kleidi init` creates: the key type and size (RSA 2048/3072/4096, or oct-HSM 256). */
export interface NewKeySpec {
  readonly kty: 'RSA' | 'RSA-HSM' | 'oct-HSM';
  readonly size: number;
}

/**
 * Admin operations of one process run one at a time per vault and key: Key Vault has no
 * conditional create, so two inits could each add a version, and two rotates in one second would
 * share a version number. Across processes nothing serialises them (docs/backends/azure.md).
 */
const locks = new Map<string, Promise<unknown>>();

async function serialised<T>(key: string, work: () => Promise<T>): Promise<T> {
  const before = locks.get(key) ?? Promise.resolve();
  const run = before.catch(() => undefined).then(work);
  locks.set(key, run);
  try {
    return await run;
  } finally {
    if (locks.get(key) === run) locks.delete(key);
  }
}

/**
 * `kleidi init | rotate | keys` on Key Vault or Managed HSM: `init` creates the key when it does
 * not exist; `rotate` adds a version (Rotate Key, the same operation a rotation policy runs);
 * `keys` lists every version with its state. Running plugins follow the newest version at their
 * next refresh; older versions keep unwrapping.
 */
export class AzureKeyAdmin implements KeyAdmin {
  readonly backend = 'azure';
  readonly staging = false;
  readonly retiring = true;
  readonly retireInOrder = false;
  readonly stage = refuseStaging(this);
  readonly promote = refuseStaging(this);

  constructor(
    private readonly api: VaultApi,
    private readonly vault: VaultRef,
    private readonly keyName: string,
    private readonly spec: NewKeySpec,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  async init(signal: AbortSignal): Promise<{ created: boolean; current: KeyVersion }> {
    throwIfAborted(signal);
    return serialised(this.lockKey(), async () => {
      throwIfAborted(signal);
      const existing = await this.newest(signal);
      if (existing) {
        assertWrapCapable(existing, this.clock.now());
        return { created: false, current: this.version(existing.properties) };
      }
      const key = await this.api
        .createKey(this.keyName, this.spec.kty, this.spec.size, signal)
        .catch((err: unknown) => {
          const e = this.adminError(err, `create key ${this.keyName}`);
          throw e instanceof BackendMisconfiguredError
            ? new BackendMisconfiguredError(
                `${e.message}. If kleidi's identity may not create keys, create it yourself ` +
                  `(az keyvault key create --name ${this.keyName} --kty ${this.spec.kty} --ops wrapKey unwrapKey)`,
              )
            : e;
        });
      const current = this.version(key.properties);
      this.log.info({ keyId: current.keyId, key: this.keyName }, 'Key Vault key created');
      return { created: true, current };
    });
  }

  async rotate(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    return serialised(this.lockKey(), async () => {
      throwIfAborted(signal);
      const before = await this.newest(signal);
      if (!before) {
        throw new BackendMisconfiguredError(
          `key ${this.keyName} does not exist in ${this.vault.url}; run \`kleidi init\` first`,
        );
      }
      // Versions are ordered by their creation second: start the new one in a later second.
      const created = before.properties.createdOn?.getTime();
      if (created !== undefined) {
        const wait = (Math.floor(created / 1000) + 1) * 1000 - this.clock.now();
        if (wait > 0) await abortable(sleep(Math.min(wait, 1000)), signal);
      }
      const key = await this.api.rotateKey(this.keyName, signal).catch((err: unknown) => {
        throw this.adminError(err, `rotate key ${this.keyName}`);
      });
      const current = this.version(key.properties);
      this.log.info({ keyId: current.keyId, key: this.keyName }, 'Key Vault key rotated: a new version is current');
      return current;
    });
  }

  async list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]> {
    throwIfAborted(signal);
    const sorted = await this.versions(signal);
    const now = this.clock.now();
    return sorted.map(({ p, v }, i) => {
      const current = i === sorted.length - 1;
      // A disabled older version is what `kleidi retire` leaves.
      if (!current && p.enabled === false) return { ...v, current, note: 'retired' };
      const problem = stateProblem(p, now, 'wrap');
      const notes = [
        p.enabled === false ? 'disabled' : undefined,
        p.expiresOn
          ? `${p.expiresOn.getTime() <= now ? 'expired' : 'expires'} ${p.expiresOn.toISOString()}`
          : undefined,
        p.notBefore && p.notBefore.getTime() > now ? `not before ${p.notBefore.toISOString()}` : undefined,
        !current && !problem ? 'decrypt-only' : undefined,
      ].filter((n): n is string => n !== undefined);
      return { ...v, current, ...(notes.length ? { note: notes.join(', ') } : {}) };
    });
  }

  /**
   * Disables an older version (Update Key with enabled=false). Not a deletion: Key Vault deletes
   * only whole keys, and `az keyvault key set-attributes --version <v> --enabled true` undoes
   * a disable.
   */
  async retire(version: number, signal: AbortSignal): Promise<RetiredVersion> {
    throwIfAborted(signal);
    return serialised(this.lockKey(), async () => {
      throwIfAborted(signal);
      const sorted = await this.versions(signal);
      const current = sorted.at(-1);
      const matching = sorted.filter(({ v }) => v.version === version);
      const target = matching[0];
      if (!target) throw new KeyVersionUnknownError(`key ${this.keyName} has no version ${version}`);
      if (matching.length > 1) {
        throw new InvalidRequestError(
          `version ${version} names ${matching.length} versions of key ${this.keyName} created in the same second ` +
            `(${matching.map(({ p }) => p.version).join(', ')}); disable the one you mean with az keyvault key set-attributes`,
        );
      }
      if (target === current) {
        throw new InvalidRequestError(`version ${version} is the current version of key ${this.keyName}`);
      }
      if (target.p.enabled === false) {
        throw new InvalidRequestError(`version ${version} of key ${this.keyName} is already retired (disabled)`);
      }
      const id = target.p.version ?? '';
      await this.api.disableVersion(this.keyName, id, signal).catch((err: unknown) => {
        const e = this.adminError(err, `disable version ${id} of key ${this.keyName}`);
        throw e instanceof BackendMisconfiguredError
          ? new BackendMisconfiguredError(`${e.message}. Retiring needs the keys/update permission`, { cause: e })
          : e;
      });
      this.log.info({ keyId: target.v.keyId, key: this.keyName }, 'Key Vault key version disabled (retired)');
      return {
        ...target.v,
        action:
          `Key Vault key version ${id} disabled; ` +
          `\`az keyvault key set-attributes --name ${this.keyName} --version ${id} --enabled true\` undoes it`,
      };
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Every version with its KeyVersion, oldest first; rejects when the key does not exist. */
  private async versions(signal: AbortSignal): Promise<{ p: KeyProperties; v: KeyVersion }[]> {
    let all: KeyProperties[];
    try {
      all = await this.api.listVersions(this.keyName, signal);
    } catch (err) {
      const f = classifyFailure(err);
      if (f instanceof AzureCallFailure && f.status === 404) throw this.notInitialised();
      throw toKmsError(f, `list versions of ${this.keyName}`);
    }
    if (all.length === 0) throw this.notInitialised();
    return all
      .map((p) => ({ p, v: this.version(p) }))
      .sort((a, b) => a.v.version - b.v.version || a.v.keyId.localeCompare(b.v.keyId));
  }

  private version(p: KeyProperties): KeyVersion {
    const { ref: _ref, ...v } = versionOfProperties(p);
    return v;
  }

  private lockKey(): string {
    return `${this.vault.part}/${this.keyName}`;
  }

  private notInitialised(): BackendMisconfiguredError {
    return new BackendMisconfiguredError(
      `key ${this.keyName} does not exist in ${this.vault.url}; run \`kleidi init\` first`,
    );
  }

  /** The newest version, or undefined when the key does not exist. */
  private async newest(signal: AbortSignal): Promise<KeyVaultKey | undefined> {
    try {
      return await this.api.getKey(this.keyName, undefined, signal);
    } catch (err) {
      const f = classifyFailure(err);
      if (f instanceof AzureCallFailure && f.status === 404) return undefined;
      throw this.adminError(f, `get key ${this.keyName}`);
    }
  }

  private adminError(err: unknown, what: string): KmsError {
    return toKmsError(classifyFailure(err), what);
  }
}
