import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { envelopeHeader } from '../../../domain/model/envelope.js';
import { KeyVersionUnknownError } from '../../../domain/model/errors.js';
import { composeKeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion, KeyVersionInfo, WrappedKey } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { KeyWrapper } from '../../../ports/outbound/key-wrapper.port.js';
import { gcmOpen, gcmSeal } from '../shared/aes-gcm.js';

/**
 * A keyring that lives only in this process: for tests and demos. Its keys
 * die with the process, and with them every Secret it wrapped, so the
 * composition refuses to select it without an explicit acknowledgement.
 * One object serves both ports: there is nothing to administer elsewhere.
 */
export class InMemoryKeyWrapper implements KeyWrapper, KeyAdmin {
  readonly backend = 'in-memory';
  private readonly keys = new Map<string, { version: KeyVersion; key: KeyObject }>();
  private current: KeyVersion | undefined;
  // A per-instance id keeps key_ids unique across processes (never reused).
  private readonly instance = randomBytes(6).toString('hex');

  constructor(private readonly now: () => Date = () => new Date()) {}

  async currentVersion(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    return this.current ?? (await this.rotate(signal));
  }

  async wrap(seed: Uint8Array, version: KeyVersion, signal: AbortSignal): Promise<WrappedKey> {
    throwIfAborted(signal);
    const k = this.lookup(version.keyId);
    return { keyId: k.version.keyId, payload: gcmSeal(k.key, seed, envelopeHeader(k.version.keyId, 'aes-256-gcm')) };
  }

  async unwrap(wrapped: WrappedKey, signal: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal);
    const k = this.lookup(wrapped.keyId);
    return gcmOpen(k.key, wrapped.payload, envelopeHeader(wrapped.keyId, 'aes-256-gcm'), this.backend);
  }

  async init(signal: AbortSignal): Promise<{ created: boolean; current: KeyVersion }> {
    throwIfAborted(signal);
    if (this.current) return { created: false, current: this.current };
    return { created: true, current: await this.rotate(signal) };
  }

  async rotate(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    const number = (this.current?.version ?? 0) + 1;
    const version: KeyVersion = {
      keyId: composeKeyId('in-memory', this.instance, `v${number}`),
      version: number,
      createdAt: this.now().toISOString(),
    };
    this.keys.set(version.keyId, { version, key: createSecretKey(randomBytes(32)) });
    this.current = version;
    return version;
  }

  async list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]> {
    throwIfAborted(signal);
    return [...this.keys.values()].map(({ version }) => ({
      ...version,
      current: version.keyId === this.current?.keyId,
    }));
  }

  close(): Promise<void> {
    this.keys.clear();
    this.current = undefined;
    return Promise.resolve();
  }

  private lookup(keyId: string): { version: KeyVersion; key: KeyObject } {
    const k = this.keys.get(keyId);
    if (!k) throw new KeyVersionUnknownError(`key_id ${keyId} was not issued by this process`);
    return k;
  }
}
