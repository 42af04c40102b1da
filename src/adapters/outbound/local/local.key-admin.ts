import { noRetire, noStaging } from '../shared/admin-refusals.js';
import type { KeyVersion, KeyVersionInfo, RetiredVersion } from '../../../domain/model/key-version.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import { keyringOwner, readKeyring, writeKeyring, type KeyringActor } from './keyring-file.js';
import { nextEntry, type Keyring } from './keyring-format.js';
import { withKeyringLock } from './keyring-lock.js';
import { hasMarker, writeMarker } from './keyring-marker.js';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { localKeyVersion } from './local.key-id.js';

/**
 * `kleidi init | rotate | keys` for the local keyring file. Works on the file
 * directly, so it needs no running server; a server notices the change on its
 * next refresh. `serve` uses it as the `service` for its first start; the
 * commands are the `operator` (see KeyringActor: run as root, they act for
 * the state directory's owner and keep the keyring theirs).
 */
export class LocalKeyAdmin implements KeyAdmin {
  readonly backend = 'local';
  readonly staging = false;
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
      const last = existing?.keyring.entries.at(-1);
      if (last) return { created: false, current: localKeyVersion(last) };
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
    throwIfAborted(signal);
    await keyringOwner(this.path, this.actor);
    return withKeyringLock(this.path, async () => {
      const existing = await readKeyring(this.path, this.actor);
      if (!existing) throw missing(this.path);
      const entry = nextEntry(existing.keyring, this.now());
      const keyring: Keyring = { entries: [...existing.keyring.entries, entry] };
      await writeKeyring(this.path, keyring, { actor: this.actor, replacing: existing });
      const version = localKeyVersion(entry);
      this.log.info({ keyId: version.keyId, version: version.version, file: this.path }, 'keyring rotated');
      return version;
    });
  }

  async list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]> {
    throwIfAborted(signal);
    const existing = await readKeyring(this.path, this.actor);
    if (!existing) throw missing(this.path);
    const entries = existing.keyring.entries;
    return entries.map((e, i) => ({
      ...localKeyVersion(e),
      current: i === entries.length - 1,
      ...(i === entries.length - 1 ? {} : { note: 'decrypt-only' }),
    }));
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
    return Promise.resolve();
  }
}

function missing(path: string): BackendMisconfiguredError {
  return new BackendMisconfiguredError(`no keyring at ${path}; run \`kleidi init\` first (or restore it from backup)`);
}
