import type { KeyVersion, KeyVersionInfo, RetiredVersion } from '../../../domain/model/key-version.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import { keyringOwner, readKeyring, writeKeyring, type KeyringActor, type ReadKeyring } from './keyring-file.js';
import { currentEntry, nextEntry, stagedEntry, type Keyring } from './keyring-format.js';
import { withKeyringLock } from './keyring-lock.js';
import { hasMarker, writeMarker } from './keyring-marker.js';
import { writeRetireBackup } from './keyring-backup.js';
import {
  BackendMisconfiguredError,
  InvalidRequestError,
  KeyVersionUnknownError,
} from '../../../domain/model/errors.js';
import { localKeyVersion } from './local.key-id.js';

/**
 * `kleidi init | rotate | keys` for the local keyring file. Works on the file
 * directly, so it needs no running server; a server notices the change on its
 * next refresh. `serve` uses it as the `service` for its first start; the
 * commands are the `operator` (see KeyringActor: run as root, they act for
 * the state directory's owner and keep the keyring theirs). Two-phase
 * rotation and retire follow ADR 0021: a staged entry lives in the same file
 * (format 2 while it does), a retired one is dropped after a backup.
 */
export class LocalKeyAdmin implements KeyAdmin {
  readonly backend = 'local';
  readonly staging = true;
  readonly retiring = true;
  readonly retireInOrder = false;
  private readonly actor: KeyringActor;
  private readonly now: () => Date;

  constructor(
    private readonly path: string,
    private readonly log: Logger,
    opts: { readonly actor?: KeyringActor; readonly now?: () => Date } = {},
  ) {
    this.actor = opts.actor ?? 'operator';
    this.now = opts.now ?? (() => new Date());
  }

  async init(signal: AbortSignal): Promise<{ created: boolean; current: KeyVersion }> {
    throwIfAborted(signal);
    // The directory is judged before the lock file is made in it (and again under the lock).
    await keyringOwner(this.path, this.actor);
    return withKeyringLock(this.path, async () => {
      const existing = await readKeyring(this.path, this.actor);
      const current = existing && currentEntry(existing.keyring);
      if (current) return { created: false, current: localKeyVersion(current) };
      // Refuses a marker that is not kleidi's before anything is written.
      await hasMarker(this.path);
      const entry = nextEntry(undefined, this.now());
      await writeKeyring(this.path, { entries: [entry] }, { actor: this.actor });
      const owner = await keyringOwner(this.path, this.actor);
      if (owner) await writeMarker(this.path, owner);
      this.log.info({ keyId: localKeyVersion(entry).keyId, file: this.path }, 'keyring created');
      return { created: true, current: localKeyVersion(entry) };
    });
  }

  async rotate(signal: AbortSignal): Promise<KeyVersion> {
    return this.add(signal, false);
  }

  async list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]> {
    throwIfAborted(signal);
    const existing = await readKeyring(this.path, this.actor);
    if (!existing) throw missing(this.path);
    const current = currentEntry(existing.keyring);
    return existing.keyring.entries.map((e) => {
      const isCurrent = e === current;
      const note = e.staged ? 'staged' : isCurrent ? undefined : 'decrypt-only';
      return { ...localKeyVersion(e), current: isCurrent, ...(note ? { note } : {}) };
    });
  }

  async stage(signal: AbortSignal): Promise<KeyVersion> {
    return this.add(signal, true);
  }

  async promote(version: number, signal: AbortSignal): Promise<KeyVersion> {
    return this.change(signal, async (existing) => {
      const entry = find(existing.keyring, version);
      if (!entry.staged) throw new InvalidRequestError(`version ${version} is not staged; nothing to promote`);
      const entries = existing.keyring.entries.map(({ staged: _staged, ...e }) => e);
      await writeKeyring(this.path, { entries }, { actor: this.actor, replacing: existing });
      const promoted = localKeyVersion(entry);
      this.log.info({ keyId: promoted.keyId, version, file: this.path }, 'staged key promoted to current');
      return promoted;
    });
  }

  async retire(version: number, signal: AbortSignal): Promise<RetiredVersion> {
    return this.change(signal, async (existing) => {
      const entry = find(existing.keyring, version);
      if (entry.staged) throw new InvalidRequestError(`version ${version} is staged, not old: promote it or keep it`);
      if (entry === currentEntry(existing.keyring)) {
        throw new InvalidRequestError(`version ${version} is current; rotate first, then retire the old version`);
      }
      // The backup is on disk (synced) before the keyring loses the entry: a crash between the two leaves both.
      const backup = await writeRetireBackup(this.path, existing, version, this.actor, this.now());
      const entries = existing.keyring.entries.filter((e) => e !== entry);
      await writeKeyring(this.path, { entries }, { actor: this.actor, replacing: existing });
      const retired = localKeyVersion(entry);
      this.log.info({ keyId: retired.keyId, version, file: this.path, backup }, 'key version retired');
      return { ...retired, action: 'removed from the keyring', backup };
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** rotate (a new current entry) or stage (a new staged one); both refused while one is staged. */
  private add(signal: AbortSignal, staged: boolean): Promise<KeyVersion> {
    return this.change(signal, async (existing) => {
      const pending = stagedEntry(existing.keyring);
      if (pending) {
        throw new InvalidRequestError(
          `version ${pending.version} is staged; promote it first (kleidi rotate --promote ${pending.version})`,
        );
      }
      const entry = nextEntry(existing.keyring, this.now(), { staged });
      const keyring: Keyring = { entries: [...existing.keyring.entries, entry] };
      await writeKeyring(this.path, keyring, { actor: this.actor, replacing: existing });
      const version = localKeyVersion(entry);
      this.log.info(
        { keyId: version.keyId, version: version.version, file: this.path },
        staged ? 'key staged: it decrypts, and is not current until promoted' : 'keyring rotated',
      );
      return version;
    });
  }

  /** Reads the keyring under its lock and lets `op` rewrite it. */
  private async change<T>(signal: AbortSignal, op: (existing: ReadKeyring) => Promise<T>): Promise<T> {
    throwIfAborted(signal);
    await keyringOwner(this.path, this.actor);
    return withKeyringLock(this.path, async () => {
      const existing = await readKeyring(this.path, this.actor);
      if (!existing) throw missing(this.path);
      return op(existing);
    });
  }
}

function find(keyring: Keyring, version: number) {
  const entry = keyring.entries.find((e) => e.version === version);
  if (!entry) throw new KeyVersionUnknownError(`the keyring holds no version ${version}`);
  return entry;
}

function missing(path: string): BackendMisconfiguredError {
  return new BackendMisconfiguredError(`no keyring at ${path}; run \`kleidi init\` first (or restore it from backup)`);
}
