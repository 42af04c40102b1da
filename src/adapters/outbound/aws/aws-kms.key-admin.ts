import { refuseStaging } from '../shared/admin-refusals.js';
import type { KeyMetadata } from '@aws-sdk/client-kms';
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
import { withRotationLock } from './aws-kms.admin-lock.js';
import type { KmsApi } from './aws-kms.client.js';
import { AwsCallFailure, classifyFailure, toKmsError } from './aws-kms.errors.js';
import { assertUsable, historyAlias, historyPrefix, type KeyReference, versionOf } from './aws-kms.keys.js';
import { sleep } from '../shared/sleep.js';

/** Tag on every key kleidi creates, naming the alias it was made for (visible in the console and to IAM). */
export const CREATED_FOR_TAG = 'kleidi.io/alias';
/** KMS's shortest waiting period before a scheduled deletion (API_ScheduleKeyDeletion: 7 to 30 days). */
const DISCARD_AFTER_DAYS = 7;

/**
 * `kleidi init | rotate | keys` on AWS KMS, for an alias: `init` creates a
 * key and the alias when the alias does not exist; `rotate` creates a new key
 * and moves the alias to it (running plugins pick it up at their next
 * refresh, and data under older keys keeps decrypting with them); `keys`
 * lists every key kleidi has used behind the alias and its state. Which keys
 * those are is recorded in KMS itself, as history aliases
 * `<alias>/kleidi-history/<key id>`, so every node and every operator sees
 * the same list. Concurrent inits leave one key behind the alias; concurrent
 * rotates run one after the other under a lock alias, so the alias always
 * ends on the newest key (docs/adr/0009-aws-kms-key-id.md).
 */
export class AwsKmsKeyAdmin implements KeyAdmin {
  readonly backend = 'aws';
  readonly staging = false;
  readonly retiring = true;
  readonly retireInOrder = false;
  readonly stage = refuseStaging(this);
  readonly promote = refuseStaging(this);

  constructor(
    private readonly api: KmsApi,
    private readonly key: KeyReference,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  async init(signal: AbortSignal): Promise<{ created: boolean; current: KeyVersion }> {
    throwIfAborted(signal);
    const existing = await this.describe(this.key.input, signal);
    if (existing) {
      assertUsable(existing, this.key.input);
      // Also records a key an operator moved the alias to by hand.
      if (this.key.kind === 'alias') await this.record(this.key.name, existing, signal);
      return { created: false, current: versionOf(existing) };
    }
    const alias = this.requireAlias('create a key');
    const meta = await this.createKey(alias, signal);
    try {
      await this.api.createAlias(alias, keyIdOf(meta), signal);
    } catch (err) {
      const f = classifyFailure(err);
      if (!(f instanceof AwsCallFailure) || f.code !== 'AlreadyExistsException') {
        throw this.adminError(f, `CreateAlias ${alias}`);
      }
      // Another init created the alias first: its key is the one; ours was never used.
      await this.discard(meta, signal);
      const winner = await this.describe(alias, signal);
      if (!winner) throw this.adminError(f, `CreateAlias ${alias}`);
      assertUsable(winner, alias);
      await this.record(alias, winner, signal);
      return { created: false, current: versionOf(winner) };
    }
    // Recorded once the alias is ours; until then `keys` lists the alias's target anyway.
    await this.record(alias, meta, signal);
    // Read back through the alias, as the losers of a concurrent init and every later start do, so
    // all of them derive the key_id from the same DescribeKey answer (CreateKey's metadata may
    // lack fields DescribeKey reports, such as the current key material).
    const current = versionOf((await this.describe(alias, signal)) ?? meta);
    this.log.info({ keyId: current.keyId, alias }, 'KMS key and alias created');
    return { created: true, current };
  }

  async rotate(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    const alias = this.requireAlias('rotate by moving the alias');
    const first = await this.describe(alias, signal);
    if (!first) throw new BackendMisconfiguredError(`${alias} does not exist in AWS KMS; run \`kleidi init\` first`);
    return withRotationLock(this.api, this.clock, this.log, alias, keyIdOf(first), signal, async () => {
      // Described again under the lock: a rotate that held it before may have moved the alias.
      const before = (await this.describe(alias, signal)) ?? first;
      await this.record(alias, before, signal);
      await this.afterCreationSecondOf(before, signal);
      const meta = await this.createKey(alias, signal);
      // Recorded before the alias moves: a failure in between leaves an unused key, never an unrecorded current one.
      await this.record(alias, meta, signal);
      await this.api.updateAlias(alias, keyIdOf(meta), signal).catch((err: unknown) => {
        throw this.adminError(err, `UpdateAlias ${alias}`);
      });
      const current = versionOf(meta);
      if (current.version <= versionOf(before).version) {
        this.log.warn(
          { keyId: current.keyId, previous: before.Arn },
          'the new KMS key has the same creation second as the previous one (clock skew?); `kleidi keys` may not order them',
        );
      }
      this.log.info({ keyId: current.keyId, alias, previous: before.Arn }, 'alias moved to a new KMS key');
      return current;
    });
  }

  /**
   * Every key recorded behind the alias (and the alias's current target),
   * oldest first, one entry per key material when KMS lists them
   * (ListKeyRotations); otherwise one entry per key with its current material.
   */
  async list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]> {
    throwIfAborted(signal);
    const { current, keys } = await this.recorded(signal);
    const out: KeyVersionInfo[] = [];
    for (const meta of keys) out.push(...(await this.entries(meta, meta.Arn === current?.Arn, signal)));
    return out;
  }

  /**
   * Disables the KMS key that is version `version` (a key kleidi recorded behind the alias and
   * that the alias no longer points to). DisableKey, not ScheduleKeyDeletion: it takes effect at
   * once and `aws kms enable-key` undoes it, while a scheduled deletion waits 7 to 30 days and
   * then destroys the key for good; an operator who wants that schedules it once retiring has
   * proved harmless. KMS disables a whole key, never one of its key materials, so the materials
   * of one key (automatic or on-demand rotation) share its version and retire together; the
   * current key's older materials cannot be retired.
   */
  async retire(version: number, signal: AbortSignal): Promise<RetiredVersion> {
    throwIfAborted(signal);
    const { current, keys } = await this.recorded(signal);
    const matching = keys.filter((k) => versionOf(k).version === version);
    const meta = matching[0];
    if (!meta) throw new KeyVersionUnknownError(`no KMS key recorded behind ${this.key.input} is version ${version}`);
    if (matching.length > 1) {
      throw new InvalidRequestError(
        `version ${version} names ${matching.length} KMS keys created in the same second ` +
          `(${matching.map((k) => k.KeyId).join(', ')}); disable the one you mean with aws kms disable-key`,
      );
    }
    if (meta.Arn === current?.Arn) {
      throw new InvalidRequestError(
        `version ${version} is the current KMS key ${meta.Arn}` +
          (meta.CurrentKeyMaterialId ? ' (KMS disables whole keys, so its older key materials retire with it)' : ''),
      );
    }
    if (current && version > versionOf(current).version) {
      throw new InvalidRequestError(`version ${version} is newer than the current KMS key ${current.Arn}`);
    }
    if (meta.KeyState !== 'Enabled') {
      throw new InvalidRequestError(
        meta.KeyState === 'Disabled'
          ? `version ${version} (KMS key ${meta.Arn}) is already retired (disabled)`
          : `version ${version} (KMS key ${meta.Arn}) is ${meta.KeyState ?? 'in an unknown state'}, not enabled`,
      );
    }
    await this.api.disableKey(keyIdOf(meta), signal).catch((err: unknown) => {
      const e = this.adminError(err, `DisableKey ${meta.Arn}`);
      throw e instanceof BackendMisconfiguredError
        ? new BackendMisconfiguredError(`${e.message}. Retiring needs kms:DisableKey on the key`, { cause: e })
        : e;
    });
    const retired = versionOf(meta);
    this.log.info({ keyId: retired.keyId, key: meta.Arn }, 'KMS key disabled (retired)');
    return {
      ...retired,
      action: `KMS key ${meta.KeyId} disabled; \`aws kms enable-key --key-id ${meta.KeyId}\` undoes it`,
    };
  }

  close(): Promise<void> {
    this.api.close();
    return Promise.resolve();
  }

  /**
   * The alias's current key and every key recorded behind it (and the current one), oldest
   * first. Keys that no longer exist are left out.
   */
  private async recorded(signal: AbortSignal): Promise<{ current: KeyMetadata | undefined; keys: KeyMetadata[] }> {
    const current = await this.describe(this.key.input, signal);
    const ids = new Set<string>();
    if (this.key.kind === 'alias') {
      const prefix = historyPrefix(this.key.name);
      const aliases = await this.api.listAliases(signal).catch((err: unknown) => {
        throw this.adminError(err, 'ListAliases');
      });
      for (const a of aliases) if (a.name.startsWith(prefix) && a.targetKeyId) ids.add(a.targetKeyId);
    }
    if (current?.KeyId) ids.add(current.KeyId);
    if (ids.size === 0) {
      throw new BackendMisconfiguredError(`${this.key.input} does not exist in AWS KMS; run \`kleidi init\` first`);
    }
    const keys: KeyMetadata[] = [];
    for (const id of ids) {
      const meta = await this.describe(id, signal);
      if (meta) keys.push(meta);
    }
    keys.sort((a, b) => (a.CreationDate?.getTime() ?? 0) - (b.CreationDate?.getTime() ?? 0));
    return { current, keys };
  }

  private async entries(meta: KeyMetadata, isTarget: boolean, signal: AbortSignal): Promise<KeyVersionInfo[]> {
    const keyNote = keyStateNote(meta, isTarget);
    const currentMaterial = meta.CurrentKeyMaterialId;
    const materials = currentMaterial ? await this.materials(meta, signal) : undefined;
    const list = materials && materials.length > 0 ? materials : [currentMaterial];
    return list.map((material) => {
      const isCurrent = isTarget && material === currentMaterial && meta.KeyState === 'Enabled';
      const note = keyNote ?? (isCurrent ? undefined : 'decrypt-only');
      return { ...versionOf(meta, material), current: isCurrent, ...(note ? { note } : {}) };
    });
  }

  /** The key's materials, oldest first; undefined when they cannot be listed (permission, or the endpoint lacks it). */
  private async materials(meta: KeyMetadata, signal: AbortSignal): Promise<string[] | undefined> {
    try {
      const entries = await this.api.listKeyMaterials(meta.Arn ?? keyIdOf(meta), signal);
      return entries
        .filter((e) => e.KeyMaterialId && e.KeyMaterialState !== 'PENDING_ROTATION')
        .sort((a, b) => (a.RotationDate?.getTime() ?? 0) - (b.RotationDate?.getTime() ?? 0))
        .map((e) => e.KeyMaterialId ?? '');
    } catch (err) {
      const f = classifyFailure(err);
      if (!(f instanceof AwsCallFailure) || f.kind !== 'final') throw toKmsError(f, 'ListKeyRotations');
      this.log.warn({ code: f.code, key: meta.Arn }, 'cannot list key materials; showing the current one only');
      return undefined;
    }
  }

  private async createKey(alias: string, signal: AbortSignal): Promise<KeyMetadata> {
    try {
      return await this.api.createKey(
        `kleidi key-encryption key behind ${alias}`,
        { [CREATED_FOR_TAG]: alias },
        signal,
      );
    } catch (err) {
      const e = this.adminError(err, 'CreateKey');
      if (e instanceof BackendMisconfiguredError) {
        throw new BackendMisconfiguredError(
          `${e.message}. If kleidi's role may not create keys, create one and the alias yourself ` +
            `(aws kms create-key; aws kms create-alias --alias-name ${alias}) and run \`kleidi init\` to record it`,
        );
      }
      throw e;
    }
  }

  /**
   * A key's version is its creation time in whole seconds (aws-kms.key-id.ts), and some KMS
   * implementations (local-kms) report no finer time. Waits until the second after `before`
   * was created, so the key a rotate creates is a strictly higher version than the one it
   * replaces. Rotations are rarely a second apart, and never wait more than a second.
   */
  private async afterCreationSecondOf(before: KeyMetadata, signal: AbortSignal): Promise<void> {
    const created = before.CreationDate?.getTime();
    if (created === undefined) return;
    const wait = (Math.floor(created / 1_000) + 1) * 1_000 - this.clock.now();
    if (wait > 0) await abortable(sleep(Math.min(wait, 1_000)), signal);
  }

  /**
   * Schedules the deletion of a key this process created but lost the race for the alias
   * with: nothing was ever encrypted under it. Needs kms:ScheduleKeyDeletion, which a
   * least-privilege admin role may lack; then the key stays, unused, and the log names it.
   */
  private async discard(meta: KeyMetadata, signal: AbortSignal): Promise<void> {
    try {
      await this.api.scheduleKeyDeletion(keyIdOf(meta), DISCARD_AFTER_DAYS, signal);
      this.log.info({ key: meta.Arn }, 'another init created the alias first; scheduled the unused key for deletion');
    } catch (err) {
      this.log.warn(
        { key: meta.Arn, reason: classifyFailure(err).message },
        `another init created the alias first; the key this one created is unused: delete it (aws kms schedule-key-deletion --key-id ${meta.KeyId})`,
      );
    }
  }

  /** Creates the history alias of a key; an existing one is fine (recording is idempotent). */
  private async record(alias: string, meta: KeyMetadata, signal: AbortSignal): Promise<void> {
    const name = historyAlias(alias, keyIdOf(meta));
    try {
      await this.api.createAlias(name, keyIdOf(meta), signal);
      this.log.info({ alias: name, key: meta.Arn }, 'recorded a KMS key in the alias history');
    } catch (err) {
      const f = classifyFailure(err);
      if (f instanceof AwsCallFailure && f.code === 'AlreadyExistsException') return;
      throw this.adminError(f, `CreateAlias ${name}`);
    }
  }

  /** KeyMetadata, or undefined when KMS says the key or alias does not exist. */
  private async describe(keyId: string, signal: AbortSignal): Promise<KeyMetadata | undefined> {
    try {
      return await this.api.describeKey(keyId, signal);
    } catch (err) {
      const f = classifyFailure(err);
      if (f instanceof AwsCallFailure && f.code === 'NotFoundException') return undefined;
      throw this.adminError(f, `DescribeKey ${keyId}`);
    }
  }

  private requireAlias(what: string): string {
    if (this.key.kind === 'alias') return this.key.name;
    throw new BackendMisconfiguredError(
      `aws.key is ${this.key.input}, not an alias: kleidi can only ${what} for an alias (e.g. alias/kleidi). ` +
        'To rotate the key material of this key, use aws kms rotate-key-on-demand; kleidi follows it',
    );
  }

  private adminError(err: unknown, what: string): KmsError {
    return toKmsError(classifyFailure(err), what);
  }
}

/** A timer that keeps the process alive: an admin command has nothing else pending while it waits. */

function keyIdOf(meta: KeyMetadata): string {
  if (!meta.KeyId) throw new BackendMisconfiguredError('KMS returned a key without a key ID');
  return meta.KeyId;
}

/** What `kleidi keys` shows for a key that cannot be used as it is; a disabled older key is retired. */
function keyStateNote(meta: KeyMetadata, isTarget: boolean): string | undefined {
  switch (meta.KeyState) {
    case 'Enabled':
      return undefined;
    case 'Disabled':
      return isTarget ? 'disabled: data under it cannot be decrypted until it is enabled' : 'retired';
    case 'PendingDeletion':
    case 'PendingReplicaDeletion':
      return `pending deletion${meta.DeletionDate ? ` on ${meta.DeletionDate.toISOString()}` : ''}: cancel it or lose data under it`;
    default:
      return `state ${meta.KeyState ?? 'unknown'}`;
  }
}
