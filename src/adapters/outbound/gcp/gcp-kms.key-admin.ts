import { refuseStaging } from '../shared/admin-refusals.js';
import {
  BackendMisconfiguredError,
  InvalidRequestError,
  KeyVersionUnknownError,
  type KmsError,
} from '../../../domain/model/errors.js';
import type { KeyVersion, KeyVersionInfo, RetiredVersion } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import type { ICryptoKey, ICryptoKeyVersion, KmsApi } from './gcp-kms.client.js';
import { classifyFailure, GcpCallFailure, Status, toKmsError } from './gcp-kms.errors.js';
import { type CryptoKeyRef, cryptoKeyName, keyRingName, parseVersionName } from './gcp-kms.key-id.js';
import { usablePrimary, versionNote, versionOf } from './gcp-kms.keys.js';

/** Rotations of one key in this process, one after the other (see rotate). */
const rotations = new Map<string, Promise<unknown>>();

/**
 * `kleidi init | rotate | keys` on Cloud KMS, for one CryptoKey in an existing key ring:
 * `init` creates the key (ENCRYPT_DECRYPT, GOOGLE_SYMMETRIC_ENCRYPTION, first version
 * primary) when it does not exist; `rotate` creates a version and makes it primary, as a
 * rotation schedule does (running plugins pick it up at their next refresh, and data under
 * older versions keeps decrypting with them); `keys` lists every version with its state and
 * protection level. Concurrent inits leave one key (CreateCryptoKey answers ALREADY_EXISTS to
 * all but one); concurrent rotates each add one version, and the primary ends on the newest.
 */
export class GcpKmsKeyAdmin implements KeyAdmin {
  readonly backend = 'gcp';
  readonly staging = false;
  readonly retiring = true;
  readonly retireInOrder = false;
  readonly stage = refuseStaging(this);
  readonly promote = refuseStaging(this);
  private readonly name: string;

  constructor(
    private readonly api: KmsApi,
    private readonly key: CryptoKeyRef,
    private readonly log: Logger,
  ) {
    this.name = cryptoKeyName(key);
  }

  async init(signal: AbortSignal): Promise<{ created: boolean; current: KeyVersion }> {
    throwIfAborted(signal);
    const existing = await this.get(signal);
    if (existing) return { created: false, current: versionOf(usablePrimary(existing, this.name)) };
    let created: ICryptoKey;
    try {
      created = await this.api.createCryptoKey(keyRingName(this.key), this.key.key, signal);
    } catch (err) {
      const f = classifyFailure(err);
      if (f instanceof GcpCallFailure && f.code === Status.ALREADY_EXISTS) {
        // Another init created it first: its first version is the one.
        const winner = await this.get(signal);
        if (winner) return { created: false, current: versionOf(usablePrimary(winner, this.name)) };
      }
      if (f instanceof GcpCallFailure && f.code === Status.NOT_FOUND) {
        throw new BackendMisconfiguredError(
          `key ring ${keyRingName(this.key)} does not exist in Cloud KMS: create it ` +
            `(gcloud kms keyrings create ${this.key.ring} --location ${this.key.location} --project ${this.key.project})`,
        );
      }
      throw this.adminError(f, `CreateCryptoKey ${this.name}`, true);
    }
    const current = versionOf(usablePrimary(created, this.name));
    this.log.info({ keyId: current.keyId, key: this.name }, 'Cloud KMS key created');
    return { created: true, current };
  }

  /**
   * Creates a version and makes it primary. Rotations of one key in this process run one after
   * the other; a rotate in another process may interleave, so after its own
   * UpdateCryptoKeyPrimaryVersion each rotate makes sure the primary is the newest enabled
   * version, and the last one to finish leaves it there.
   */
  async rotate(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    const before = rotations.get(this.name) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(() => this.rotateNow(signal));
    rotations.set(this.name, mine);
    void mine
      .finally(() => {
        if (rotations.get(this.name) === mine) rotations.delete(this.name);
      })
      .catch(() => undefined);
    return mine;
  }

  async list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]> {
    throwIfAborted(signal);
    const key = await this.requireKey(signal);
    const versions = await this.api.listVersions(this.name, signal).catch((err: unknown) => {
      throw this.adminError(err, `ListCryptoKeyVersions ${this.name}`);
    });
    const primary = key.primary?.name;
    return versions
      .filter((v) => v.name && parseVersionName(v.name))
      .map((v) => {
        const current = v.name === primary && v.state === 'ENABLED';
        const note = versionNote(v, current, v.name === primary);
        return { ...versionOf(v), current, ...(note ? { note } : {}) };
      })
      .sort((a, b) => a.version - b.version);
  }

  /**
   * Disables an ENABLED version older than the primary (UpdateCryptoKeyVersion state=DISABLED).
   * Not DestroyCryptoKeyVersion: disabling takes effect at once and
   * `gcloud kms keys versions enable` undoes it, while a destruction is final once its
   * scheduled duration (30 days by default) has passed.
   */
  async retire(version: number, signal: AbortSignal): Promise<RetiredVersion> {
    throwIfAborted(signal);
    const key = await this.requireKey(signal);
    const versions = await this.api.listVersions(this.name, signal).catch((err: unknown) => {
      throw this.adminError(err, `ListCryptoKeyVersions ${this.name}`);
    });
    const v = versions.find((x) => x.name && Number(parseVersionName(x.name)?.version) === version);
    if (!v?.name) throw new KeyVersionUnknownError(`${this.name} has no version ${version}`);
    const primary = key.primary?.name ? Number(parseVersionName(key.primary.name)?.version) : undefined;
    if (primary === undefined) {
      throw new InvalidRequestError(`${this.name} has no primary version; make one primary before retiring others`);
    }
    if (version === primary) throw new InvalidRequestError(`version ${version} is the primary version of ${this.name}`);
    if (version > primary) {
      throw new InvalidRequestError(`version ${version} is newer than the primary version ${primary} of ${this.name}`);
    }
    if (v.state !== 'ENABLED') {
      throw new InvalidRequestError(
        v.state === 'DISABLED'
          ? `version ${version} of ${this.name} is already retired (DISABLED)`
          : `version ${version} of ${this.name} is ${String(v.state)}, not ENABLED`,
      );
    }
    const disabled = await this.api.disableVersion(v.name, signal).catch((err: unknown) => {
      throw this.adminError(err, `UpdateCryptoKeyVersion ${v.name} to DISABLED`, true);
    });
    const retired = versionOf(disabled.name ? disabled : v);
    this.log.info({ keyId: retired.keyId, key: this.name }, 'Cloud KMS key version disabled (retired)');
    return {
      ...retired,
      action: `version ${version} disabled; \`gcloud kms keys versions enable ${version}\` undoes it`,
    };
  }

  close(): Promise<void> {
    return this.api.close();
  }

  private async rotateNow(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    await this.requireKey(signal);
    const created = await this.api.createVersion(this.name, signal).catch((err: unknown) => {
      throw this.adminError(err, `CreateCryptoKeyVersion ${this.name}`, true);
    });
    const mine = versionOf(created);
    const id = String(mine.version);
    // A new software or HSM version is ENABLED at once; an external one may be pending.
    await this.setPrimary(id, signal);
    await this.keepNewestPrimary(mine.version, signal);
    this.log.info({ keyId: mine.keyId, key: this.name }, 'Cloud KMS key version created and made primary');
    return mine;
  }

  /** When another process rotated meanwhile, the newest enabled version is made primary again. */
  private async keepNewestPrimary(mine: number, signal: AbortSignal): Promise<void> {
    const versions = await this.api.listVersions(this.name, signal).catch((err: unknown) => {
      throw this.adminError(err, `ListCryptoKeyVersions ${this.name}`);
    });
    const newest = newestEnabled(versions);
    if (newest === undefined || newest <= mine) return;
    const key = await this.requireKey(signal);
    const primary = key.primary?.name ? Number(parseVersionName(key.primary.name)?.version) : 0;
    if (primary < newest) await this.setPrimary(String(newest), signal);
  }

  private async setPrimary(id: string, signal: AbortSignal): Promise<void> {
    await this.api.setPrimary(this.name, id, signal).catch((err: unknown) => {
      throw this.adminError(err, `UpdateCryptoKeyPrimaryVersion ${this.name} to ${id}`, true);
    });
  }

  private async requireKey(signal: AbortSignal): Promise<ICryptoKey> {
    const key = await this.get(signal);
    if (!key)
      throw new BackendMisconfiguredError(`${this.name} does not exist in Cloud KMS; run \`kleidi init\` first`);
    return key;
  }

  /** The CryptoKey, or undefined when Cloud KMS says it does not exist. */
  private async get(signal: AbortSignal): Promise<ICryptoKey | undefined> {
    try {
      return await this.api.getCryptoKey(this.name, signal);
    } catch (err) {
      const f = classifyFailure(err);
      if (f instanceof GcpCallFailure && f.code === Status.NOT_FOUND) return undefined;
      throw this.adminError(f, `GetCryptoKey ${this.name}`);
    }
  }

  private adminError(err: unknown, what: string, administers = false): KmsError {
    const f = classifyFailure(err);
    const e = toKmsError(f, what);
    if (administers && f instanceof GcpCallFailure && f.code === Status.PERMISSION_DENIED) {
      return new BackendMisconfiguredError(
        `${what}: permission denied; \`kleidi init\`, \`kleidi rotate\` and \`kleidi retire\` need roles/cloudkms.admin on the key ring ` +
          '(or create the key and versions yourself with gcloud kms and let kleidi follow the primary)',
        { cause: f },
      );
    }
    return e;
  }
}

function newestEnabled(versions: readonly ICryptoKeyVersion[]): number | undefined {
  let newest: number | undefined;
  for (const v of versions) {
    const id = v.name ? Number(parseVersionName(v.name)?.version) : Number.NaN;
    if (v.state === 'ENABLED' && Number.isFinite(id) && (newest === undefined || id > newest)) newest = id;
  }
  return newest;
}
