import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { envelopeHeader } from '../../../domain/model/envelope.js';
import {
  BackendMisconfiguredError,
  InvalidRequestError,
  KeyUnusableError,
  KeyVersionUnknownError,
} from '../../../domain/model/errors.js';
import { composeKeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion, KeyVersionInfo, RetiredVersion, WrappedKey } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { KeyWrapper } from '../../../ports/outbound/key-wrapper.port.js';
import { gcmOpen, gcmSeal } from '../shared/aes-gcm.js';

/**
 * A keyring that lives only in this process: for tests and demos. Its keys
 * die with the process, and with them every Secret it wrapped, so the
 * composition refuses to select it without an explicit acknowledgement.
 * One object serves both ports: there is nothing to administer elsewhere.
 * It implements the whole KeyAdmin lifecycle (staging, retiring) as the
 * reference the contract suite is checked against in unit time.
 */
export class InMemoryKeyWrapper implements KeyWrapper, KeyAdmin {
  readonly backend = 'in-memory';
  readonly staging = true;
  readonly retiring = true;
  readonly retireInOrder = false;
  private readonly keys = new Map<string, Slot>();
  private current: KeyVersion | undefined;
  // A per-instance id keeps key_ids unique across processes (never reused).
  private readonly instance = randomBytes(6).toString('hex');

  constructor(private readonly now: () => Date = () => new Date()) {}

  async currentVersion(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    return this.current ?? (await this.init(signal)).current;
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
    this.current = this.add('live');
    return { created: true, current: this.current };
  }

  async rotate(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    this.refuseBeforeInit();
    this.refuseWhileStaged();
    const version = this.add('live');
    this.current = version;
    return version;
  }

  async list(signal: AbortSignal): Promise<readonly KeyVersionInfo[]> {
    throwIfAborted(signal);
    this.refuseBeforeInit();
    return [...this.keys.values()].map(({ version, state }) => ({
      ...version,
      current: version.keyId === this.current?.keyId,
      ...(state === 'live' ? {} : { note: state }),
    }));
  }

  async stage(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    this.refuseWhileStaged();
    return this.add('staged');
  }

  async promote(version: number, signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    const slot = this.byVersion(version);
    if (slot.state !== 'staged') throw new InvalidRequestError(`version ${version} is not staged`);
    slot.state = 'live';
    this.current = slot.version;
    return slot.version;
  }

  async retire(version: number, signal: AbortSignal): Promise<RetiredVersion> {
    throwIfAborted(signal);
    const slot = this.byVersion(version);
    if (slot.version.keyId === this.current?.keyId) throw new InvalidRequestError(`version ${version} is current`);
    if (slot.state !== 'live') throw new InvalidRequestError(`version ${version} is ${slot.state}`);
    slot.state = 'retired';
    slot.key = undefined;
    return { ...slot.version, action: 'forgotten by this process' };
  }

  close(): Promise<void> {
    this.keys.clear();
    this.current = undefined;
    return Promise.resolve();
  }

  private lookup(keyId: string): { version: KeyVersion; key: KeyObject } {
    const k = this.keys.get(keyId);
    if (!k) throw new KeyVersionUnknownError(`key_id ${keyId} was not issued by this process`);
    if (!k.key) throw new KeyUnusableError(`key_id ${keyId} was retired`);
    return { version: k.version, key: k.key };
  }

  private add(state: 'live' | 'staged'): KeyVersion {
    const number = Math.max(0, ...[...this.keys.values()].map((k) => k.version.version)) + 1;
    const version: KeyVersion = {
      keyId: composeKeyId('in-memory', this.instance, `v${number}`),
      version: number,
      createdAt: this.now().toISOString(),
    };
    this.keys.set(version.keyId, { version, key: createSecretKey(randomBytes(32)), state });
    return version;
  }

  private byVersion(version: number): Slot {
    const slot = [...this.keys.values()].find((k) => k.version.version === version);
    if (!slot) throw new KeyVersionUnknownError(`no key version ${version}`);
    return slot;
  }

  private refuseBeforeInit(): void {
    if (!this.current) throw new BackendMisconfiguredError('no in-memory key yet; run `kleidi init` first');
  }

  private refuseWhileStaged(): void {
    const staged = [...this.keys.values()].find((k) => k.state === 'staged');
    if (staged) throw new InvalidRequestError(`version ${staged.version.version} is staged; promote it first`);
  }
}

interface Slot {
  readonly version: KeyVersion;
  key: KeyObject | undefined;
  state: 'live' | 'staged' | 'retired';
}
