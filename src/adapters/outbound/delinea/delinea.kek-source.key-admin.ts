import { refuseStaging } from '../shared/admin-refusals.js';
import {
  BackendMisconfiguredError,
  BackendUnavailableError,
  InvalidRequestError,
  KeyVersionUnknownError,
} from '../../../domain/model/errors.js';
import type { KeyVersion, KeyVersionInfo, RetiredVersion } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import type { DelineaApi } from './delinea.api.js';
import { type KeyScope, scopedKeyVersion } from './delinea.key-id.js';
import { serialised } from './delinea.lock.js';
import {
  nextEntry,
  parseRing,
  type Ring,
  type RingEntry,
  serializeRing,
  serializeRingWithout,
} from './delinea.ring.js';
import type { SecretField } from './delinea.secret-field.js';

/** Read-modify-write attempts when another writer's update replaced ours. */
const WRITE_ATTEMPTS = 4;

/**
 * `kleidi init | rotate | keys` in kek-source mode. init writes the first ring into the empty
 * field; rotate appends a version (malformed entries are kept as they are). Secret Server's field
 * update takes no precondition (no ETag / If-Match), so each write is read back: when another
 * writer's update replaced ours, the rotate is redone on top of theirs (lost-update detection;
 * the remaining window, a second writer between our write and our read-back, is documented in
 * docs/adr/0013-delinea-backend.md). Within one process writes are serialised.
 */
export class KekSourceKeyAdmin implements KeyAdmin {
  readonly backend = 'delinea';
  readonly staging = false;
  readonly retiring = true;
  readonly retireInOrder = false;
  readonly stage = refuseStaging(this);
  readonly promote = refuseStaging(this);

  constructor(
    private readonly api: DelineaApi,
    private readonly field: SecretField,
    private readonly scope: KeyScope,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  private get lockKey(): string {
    return `${this.scope.host}|${this.scope.object}`;
  }

  async init(signal: AbortSignal): Promise<{ created: boolean; current: KeyVersion }> {
    throwIfAborted(signal);
    return serialised(this.lockKey, async () => {
      throwIfAborted(signal);
      for (let i = 0; i < WRITE_ATTEMPTS; i++) {
        const ring = await this.read(signal);
        if (ring) return { created: false, current: this.currentOf(ring) };
        const entry = nextEntry(undefined, new Date(this.clock.now()));
        await this.field.write(serializeRing(undefined, entry), signal);
        const after = await this.read(signal);
        if (after?.entries.some((e) => e.id === entry.id)) {
          this.log.info({ version: entry.version }, 'KEK ring created');
          return { created: true, current: this.versionOf(entry) };
        }
        if (after) return { created: false, current: this.currentOf(after) };
      }
      throw new BackendUnavailableError(`${this.field.where}: the first KEK could not be written`);
    });
  }

  async rotate(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    return serialised(this.lockKey, async () => {
      throwIfAborted(signal);
      for (let i = 0; i < WRITE_ATTEMPTS; i++) {
        const ring = await this.read(signal);
        if (!ring) throw this.noRing();
        const entry = nextEntry(ring, new Date(this.clock.now()));
        await this.field.write(serializeRing(ring, entry), signal);
        const after = await this.read(signal);
        if (after?.entries.some((e) => e.id === entry.id)) {
          this.log.info({ version: entry.version }, 'KEK ring rotated');
          return this.versionOf(entry);
        }
        this.log.warn({ version: entry.version }, 'another writer replaced the KEK ring; rotating again on top of it');
      }
      throw new BackendUnavailableError(`${this.field.where}: concurrent writers kept replacing the KEK ring`);
    });
  }

  async list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]> {
    const ring = await this.read(signal);
    if (!ring) throw this.noRing();
    const rows: KeyVersionInfo[] = ring.entries.map((e) => ({ ...this.versionOf(e), current: false }));
    for (const b of ring.broken) {
      if (b.version === undefined) continue;
      rows.push({
        ...scopedKeyVersion(this.scope, b.version, 'malformed'),
        current: false,
        note: `malformed: ${b.reason}`,
      });
    }
    rows.sort((a, b) => a.version - b.version);
    const last = rows.at(-1);
    return rows.map((r) => (r === last ? { ...r, current: true } : r));
  }

  /**
   * Removes an older version's entry from the ring (read-modify-write with read-back, as
   * rotate). Secret Server has no per-entry state to disable, and an entry left in the field
   * would still hand its KEK to every reader, so the entry goes; the secret's history keeps the
   * earlier field value, from which an operator can restore it.
   */
  async retire(version: number, signal: AbortSignal): Promise<RetiredVersion> {
    throwIfAborted(signal);
    return serialised(this.lockKey, async () => {
      throwIfAborted(signal);
      for (let i = 0; i < WRITE_ATTEMPTS; i++) {
        const ring = await this.read(signal);
        if (!ring) throw this.noRing();
        const current = this.currentOf(ring);
        const entry = ring.entries.find((e) => e.version === version);
        const broken = ring.broken.some((b) => b.version === version);
        if (!entry && !broken) throw new KeyVersionUnknownError(`${this.field.where} holds no KEK version ${version}`);
        if (version >= current.version) {
          throw new InvalidRequestError(
            version === current.version
              ? `version ${version} is the current KEK in ${this.field.where}`
              : `version ${version} is newer than the current KEK (version ${current.version}) in ${this.field.where}`,
          );
        }
        await this.field.write(serializeRingWithout(ring, version), signal);
        const after = await this.read(signal);
        if (
          after &&
          !after.entries.some((e) => e.version === version) &&
          !after.broken.some((b) => b.version === version)
        ) {
          const retired = entry ? this.versionOf(entry) : scopedKeyVersion(this.scope, version, 'malformed');
          this.log.info({ version }, 'KEK ring version removed (retired)');
          return {
            ...retired,
            action: `removed from the KEK ring in ${this.field.where}; the secret's history keeps the earlier value`,
          };
        }
        this.log.warn({ version }, 'another writer replaced the KEK ring; retiring again on top of it');
      }
      throw new BackendUnavailableError(`${this.field.where}: concurrent writers kept replacing the KEK ring`);
    });
  }

  close(): Promise<void> {
    this.api.close();
    return Promise.resolve();
  }

  private async read(signal: AbortSignal): Promise<Ring | undefined> {
    return parseRing(await this.field.read(signal), this.field.where);
  }

  private currentOf(ring: Ring): KeyVersion {
    const e = ring.entries.at(-1);
    if (!e) throw new BackendMisconfiguredError(`${this.field.where} holds no usable KEK`);
    return this.versionOf(e);
  }

  private versionOf(e: RingEntry): KeyVersion {
    return scopedKeyVersion(this.scope, e.version, e.id, e.createdAt);
  }

  private noRing(): BackendMisconfiguredError {
    return new BackendMisconfiguredError(`${this.field.where} holds no KEK ring yet; run \`kleidi init\` first`);
  }
}
