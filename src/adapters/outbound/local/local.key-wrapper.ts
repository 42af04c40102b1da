import { createSecretKey, type KeyObject } from 'node:crypto';
import { envelopeHeader } from '../../../domain/model/envelope.js';
import {
  BackendMisconfiguredError,
  BackendUnavailableError,
  KeyVersionUnknownError,
  KmsError,
} from '../../../domain/model/errors.js';
import type { KeyVersion, WrappedKey } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { KeyWrapper } from '../../../ports/outbound/key-wrapper.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { gcmOpen, gcmSeal } from '../shared/aes-gcm.js';
import { readKeyring, statStamp } from './keyring-file.js';
import { currentEntry, type Keyring } from './keyring-format.js';
import { localKeyVersion } from './local.key-id.js';

interface LoadedKey {
  readonly version: KeyVersion;
  readonly key: KeyObject;
}

/**
 * The default backend: KEKs from the keyring file, AES-256-GCM in-process.
 * The file is re-read when it changes (a `kleidi rotate`, or a new file
 * distributed to every control-plane node).
 */
export class LocalKeyWrapper implements KeyWrapper {
  readonly backend = 'local';
  private keys = new Map<string, LoadedKey>();
  private current: KeyVersion | undefined;
  private stamp: string | undefined;

  private constructor(
    private readonly path: string,
    private readonly log: Logger,
  ) {}

  /** Loads the keyring; fails (startup) when it is missing, unreadable, too open or corrupt. */
  static async open(path: string, log: Logger): Promise<LocalKeyWrapper> {
    const w = new LocalKeyWrapper(path, log);
    if (!(await w.reload())) {
      throw new BackendMisconfiguredError(`keyring file ${path} does not exist; run \`kleidi init\``);
    }
    return w;
  }

  async currentVersion(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    const stamp = await statStamp(this.path);
    if (stamp === undefined) {
      // Keep serving the keys loaded before, but make the loss visible: a restart could not load them.
      throw new BackendUnavailableError(
        `keyring file ${this.path} is missing; restore it from backup before a restart`,
      );
    }
    if (stamp !== this.stamp) {
      try {
        await this.reload();
      } catch (err) {
        // Keep serving the keys we hold: they are still valid; report why we could not refresh.
        const why = err instanceof KmsError ? err.message : 'unexpected error';
        throw new BackendUnavailableError(`keyring changed but cannot be loaded: ${why}`, { cause: err });
      }
    }
    if (!this.current) throw new BackendUnavailableError('keyring holds no key');
    return this.current;
  }

  async wrap(seed: Uint8Array, version: KeyVersion, signal: AbortSignal): Promise<WrappedKey> {
    throwIfAborted(signal);
    const k = await this.lookup(version.keyId);
    return { keyId: k.version.keyId, payload: gcmSeal(k.key, seed, envelopeHeader(k.version.keyId, 'aes-256-gcm')) };
  }

  async unwrap(wrapped: WrappedKey, signal: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal);
    const k = await this.lookup(wrapped.keyId);
    return gcmOpen(k.key, wrapped.payload, envelopeHeader(wrapped.keyId, 'aes-256-gcm'), this.backend);
  }

  close(): Promise<void> {
    this.keys = new Map();
    this.current = undefined;
    return Promise.resolve();
  }

  /** Finds a KEK; on a miss, re-reads a changed file once (another node may have rotated first). */
  private async lookup(keyId: string): Promise<LoadedKey> {
    let k = this.keys.get(keyId);
    if (!k && (await statStamp(this.path)) !== this.stamp) {
      await this.reload().catch(() => undefined);
      k = this.keys.get(keyId);
    }
    if (!k) throw new KeyVersionUnknownError(`key_id ${keyId} is not in this keyring`);
    return k;
  }

  private async reload(): Promise<boolean> {
    const read = await readKeyring(this.path);
    if (!read) return false;
    this.install(read.keyring);
    this.stamp = read.stamp;
    return true;
  }

  private install(keyring: Keyring): void {
    const keys = new Map<string, LoadedKey>();
    for (const e of keyring.entries) {
      const version = localKeyVersion(e);
      keys.set(version.keyId, { version, key: createSecretKey(e.material) });
    }
    // A staged entry unwraps (a node that promoted early may write under it) but is never current.
    const latest = currentEntry(keyring);
    const current = latest ? localKeyVersion(latest) : undefined;
    if (this.current && current && current.keyId !== this.current.keyId) {
      this.log.info({ keyId: current.keyId, version: current.version }, 'keyring reloaded with a new current key');
    }
    this.keys = keys;
    this.current = current;
  }
}
