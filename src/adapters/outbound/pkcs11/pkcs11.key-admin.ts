import {
  BackendMisconfiguredError,
  InvalidRequestError,
  KeyVersionUnknownError,
} from '../../../domain/model/errors.js';
import type { KeyVersion, KeyVersionInfo, RetiredVersion } from '../../../domain/model/key-version.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { abortable } from '../../../domain/services/abortable.js';
import { describeVersions, selectCurrent } from './pkcs11.catalog.js';
import type { Pkcs11Connection } from './pkcs11.connection.js';
import type { LiveToken } from './pkcs11.token.js';
import { ckrOf } from './pkcs11.errors.js';
import { generateKek, refusedMessage, type KekEntry } from './pkcs11.keys.js';
import { createMark, destroyMark, stagedValue } from './pkcs11.marks.js';
import type { Pkcs11Options } from './pkcs11.options.js';
import { openConnection, type ConnectionLease } from './pkcs11.shared.js';

/** CKR_ACTION_PROHIBITED (pkcs11t.h, Base v2.40: 0x1B); pkcs11js 2.1.7 does not export it. */
const CKR_ACTION_PROHIBITED = 0x1b;

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
 * pkcs11.keys.ts; nothing is ever overwritten. Two-phase rotation and retire
 * (ADR 0021) keep their state in marks next to the keys (pkcs11.marks.ts),
 * since a locked key cannot change; retire destroys a key only where the
 * token allows it (CKA_DESTROYABLE true), and marks it retired otherwise.
 */
export class Pkcs11KeyAdmin implements KeyAdmin {
  readonly backend = 'pkcs11';
  readonly staging = true;
  readonly retiring = true;
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
      const next = this.nextVersion(await t.catalog.scan(), 'rotate');
      return toVersion(await this.create(t, next));
    });
  }

  /** Adds version max+1 marked staged: it decrypts, and is not current until promoted. */
  stage(signal: AbortSignal): Promise<KeyVersion> {
    return this.change('stage', signal, async (t) => {
      const next = this.nextVersion(await t.catalog.scan(), 'stage');
      // The mark first: a crash before the key leaves a mark for no key, never a key current too early.
      createMark(t.anchor, this.options.keyLabel, 'staged', stagedValue(next));
      const created = await this.create(t, next);
      this.log.info({ keyId: created.keyId, version: next }, 'PKCS#11 key staged: it is not current until promoted');
      return toVersion(created);
    });
  }

  /** Destroys the staged mark of `version`: it is current from every wrapper's next scan. */
  promote(version: number, signal: AbortSignal): Promise<KeyVersion> {
    return this.change('promote', signal, async (t) => {
      const at = (await t.catalog.scan()).filter((e) => e.version === version);
      const entry = at.find((e) => e.state === 'staged');
      if (at.length === 0) throw unknownVersion(this.options.keyLabel, version);
      if (!entry) throw new InvalidRequestError(`version ${version} is not staged; nothing to promote`);
      const marks = t.catalog.lastMarks().all.filter((m) => m.kind === 'staged' && m.value === stagedValue(version));
      for (const m of marks) destroyMark(t.anchor, m);
      await t.catalog.scanAfterWrite();
      this.log.info({ keyId: entry.keyId, version }, 'PKCS#11 staged key promoted to current');
      return toVersion(entry);
    });
  }

  /**
   * Destroys the key (C_DestroyObject) where the token allows it; a key kleidi generated is
   * CKA_DESTROYABLE false (pkcs11.keys.ts), and the token refuses with CKR_ACTION_PROHIBITED,
   * so it is marked retired instead and kleidi refuses it from every wrapper's next scan.
   */
  retire(version: number, signal: AbortSignal): Promise<RetiredVersion> {
    return this.change('retire', signal, async (t) => {
      const existing = await t.catalog.scan();
      const at = existing.filter((e) => e.version === version);
      const entry = at[0];
      if (entry === undefined) throw unknownVersion(this.options.keyLabel, version);
      if (at.some((e) => e.state === 'retired')) throw new InvalidRequestError(`version ${version} is already retired`);
      if (at.some((e) => e.state === 'staged')) {
        throw new InvalidRequestError(`version ${version} is staged, not old: promote it or keep it`);
      }
      const current = selectCurrent(existing, this.options.keyLabel, this.options.keyVersion);
      if (version >= current.version) {
        throw new InvalidRequestError(
          `version ${version} is ${version === current.version ? 'current' : 'newer than the current one'}; only older versions retire`,
        );
      }
      if (new Set(at.map((e) => e.keyId)).size > 1) {
        throw new InvalidRequestError(`${at.length} different keys carry version ${version}; retire is refused`);
      }
      const destroyed = this.destroy(t, at);
      if (!destroyed) createMark(t.anchor, this.options.keyLabel, 'retired', entry.keyId);
      await t.catalog.scanAfterWrite();
      const action = destroyed
        ? 'destroyed on the token (C_DestroyObject)'
        : 'marked retired on the token: kleidi refuses it; the token keeps the key object (CKA_DESTROYABLE false)';
      this.log.info({ keyId: entry.keyId, version, destroyed }, 'PKCS#11 key version retired');
      return { ...toVersion(entry), action };
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

  /** max+1 over every version on the token (staged and retired ones too: a number is never reused). */
  private nextVersion(existing: readonly KekEntry[], what: 'rotate' | 'stage'): number {
    if (existing.length === 0) {
      throw new BackendMisconfiguredError(
        `no key labelled '${this.options.keyLabel}' to ${what}; run 'kleidi init' first`,
      );
    }
    const staged = existing.find((e) => e.state === 'staged');
    if (staged) {
      throw new InvalidRequestError(
        `version ${staged.version} is staged; promote it first (kleidi rotate --promote ${staged.version})`,
      );
    }
    return Math.max(...existing.map((e) => e.version)) + 1;
  }

  /** Destroys every object holding this key; false when the token refuses (a locked key). */
  private destroy(t: LiveToken, copies: readonly KekEntry[]): boolean {
    try {
      for (const e of copies) t.anchor.lib.C_DestroyObject(t.anchor.handle, e.handle);
      return true;
    } catch (err) {
      // Base v2.40 §5.7: CKR_ACTION_PROHIBITED for CKA_DESTROYABLE false.
      if (ckrOf(err) === CKR_ACTION_PROHIBITED) return false;
      throw err;
    }
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

function unknownVersion(label: string, version: number): KeyVersionUnknownError {
  return new KeyVersionUnknownError(`no key labelled '${label}' has version ${version} on the token`);
}

function toVersion(e: KekEntry): KeyVersion {
  return { keyId: e.keyId, version: e.version };
}
