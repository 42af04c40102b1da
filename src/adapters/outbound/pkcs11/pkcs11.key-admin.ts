import { noRetire, noStaging } from '../shared/admin-refusals.js';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { KeyVersion, KeyVersionInfo, RetiredVersion } from '../../../domain/model/key-version.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { abortable } from '../../../domain/services/abortable.js';
import { describeVersions, selectCurrent } from './pkcs11.catalog.js';
import type { Pkcs11Connection } from './pkcs11.connection.js';
import type { LiveToken } from './pkcs11.token.js';
import { generateKek, refusedMessage, type KekEntry } from './pkcs11.keys.js';
import type { Pkcs11Options } from './pkcs11.options.js';
import { openConnection, type ConnectionLease } from './pkcs11.shared.js';

/** Key generation on a network HSM can take seconds; admin calls get this budget at least. */
const ADMIN_BUDGET_MS = 30_000;

/**
 * The admin change running on each connection (one per module and process).
 * init and rotate read the versions, pick the next one and generate it; two
 * of them interleaved would generate the same version twice. The token has
 * no lock to take, so changes from one process run one at a time; changes
 * from two processes are still detected afterwards (`create`).
 */
const changing = new WeakMap<Pkcs11Connection, Promise<unknown>>();

/**
 * `kleidi init | rotate | keys` on a PKCS#11 token. New versions are
 * generated inside the token (CKM_AES_KEY_GEN) with the KEK template of
 * pkcs11.keys.ts; nothing is ever overwritten or deleted here.
 */
export class Pkcs11KeyAdmin implements KeyAdmin {
  readonly backend = 'pkcs11';
  readonly staging = false;
  readonly retireInOrder = false;

  private constructor(
    private readonly conn: Pkcs11Connection,
    private readonly lease: ConnectionLease,
    private readonly options: Pkcs11Options,
    private readonly log: Logger,
  ) {}

  static async open(options: Pkcs11Options, log: Logger, clock: Clock): Promise<Pkcs11KeyAdmin> {
    const lease = await openConnection(options, log, clock);
    return new Pkcs11KeyAdmin(lease.connection, lease, options, log);
  }

  /** Creates v1 only when no version exists; an existing key is never touched. */
  init(signal: AbortSignal): Promise<{ created: boolean; current: KeyVersion }> {
    return this.change('init', signal, async (t) => {
      const existing = await t.catalog.scan();
      if (existing.length > 0) return { created: false, current: this.current(existing) };
      const created = await this.create(t, 1);
      return { created: true, current: toVersion(created) };
    });
  }

  /** Adds version max+1; older versions stay for decryption. */
  rotate(signal: AbortSignal): Promise<KeyVersion> {
    return this.change('rotate', signal, async (t) => {
      const existing = await t.catalog.scan();
      if (existing.length === 0) {
        throw new BackendMisconfiguredError(
          `no key labelled '${this.options.keyLabel}' to rotate; run 'kleidi init' first`,
        );
      }
      const next = Math.max(...existing.map((e) => e.version)) + 1;
      return toVersion(await this.create(t, next));
    });
  }

  list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]> {
    return this.admin('list', signal, async (t) => {
      const entries = await t.catalog.scan();
      if (entries.length === 0) {
        throw new BackendMisconfiguredError(
          `no key labelled '${this.options.keyLabel}' on the token; run 'kleidi init' first`,
        );
      }
      let current: KekEntry | undefined;
      try {
        current = selectCurrent(entries, this.options.keyLabel, this.options.keyVersion);
      } catch {
        current = undefined; // listing must work precisely when the current version is in doubt
      }
      return describeVersions(entries, current);
    });
  }

  stage(): Promise<KeyVersion> {
    return Promise.reject(noStaging(this.backend));
  }

  promote(): Promise<KeyVersion> {
    return Promise.reject(noStaging(this.backend));
  }

  retire(): Promise<RetiredVersion> {
    return Promise.reject(noRetire(this.backend));
  }

  close(): Promise<void> {
    return this.lease.release();
  }

  /** An admin call that changes the token: after any change already running in this process. */
  private change<T>(what: string, signal: AbortSignal, op: (t: LiveToken) => Promise<T>): Promise<T> {
    const before = changing.get(this.conn) ?? Promise.resolve();
    const turn = before.then(
      () => undefined,
      () => undefined,
    );
    const run = abortable(turn, signal).then(() => this.admin(what, signal, op));
    // The next change waits for this one to settle, even when this caller gave up waiting.
    changing.set(
      this.conn,
      turn.then(() => run).catch(() => undefined),
    );
    return run;
  }

  private admin<T>(what: string, signal: AbortSignal, op: (t: LiveToken) => Promise<T>): Promise<T> {
    return this.conn.call(`kleidi ${what}`, signal, op, Math.max(ADMIN_BUDGET_MS, this.options.callTimeoutMs));
  }

  private current(entries: readonly KekEntry[]): KeyVersion {
    return toVersion(selectCurrent(entries, this.options.keyLabel, this.options.keyVersion));
  }

  /**
   * Generates version `version` and reads it back. If another node created
   * the same version concurrently (a network HSM), the two keys differ and
   * the version is reported ambiguous instead of being used.
   */
  private async create(t: LiveToken, version: number): Promise<KekEntry> {
    const unlocked = generateKek(t.anchor, this.options.keyLabel, version);
    if (unlocked.length > 0) {
      this.log.warn(
        { version, attributes: unlocked },
        'the token does not take these lock attributes; the key-encryption key is generated without them',
      );
    }
    const same = (await t.catalog.scanAfterWrite()).filter((e) => e.version === version);
    const entry = same[0];
    if (entry === undefined || new Set(same.map((e) => e.keyId)).size > 1) {
      throw new BackendMisconfiguredError(
        `another process created '${this.options.keyLabel}' v${version} at the same time; run 'kleidi rotate' again`,
      );
    }
    // A token that ignored the template (still sensitive? still unextractable?) made a key nobody should use.
    if (entry.refusal) {
      throw new BackendMisconfiguredError(refusedMessage(this.options.keyLabel, version, entry.refusal));
    }
    this.log.info({ keyId: entry.keyId, version }, 'PKCS#11 key-encryption key created');
    if (this.options.keyVersion !== undefined && this.options.keyVersion !== version) {
      this.log.warn(
        { pinned: this.options.keyVersion },
        'a key version is pinned in config; the new version is not current',
      );
    }
    return entry;
  }
}

function toVersion(e: KekEntry): KeyVersion {
  return { keyId: e.keyId, version: e.version };
}
