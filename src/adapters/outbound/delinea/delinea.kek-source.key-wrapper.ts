import { createSecretKey, type KeyObject } from 'node:crypto';
import { envelopeHeader } from '../../../domain/model/envelope.js';
import { BackendMisconfiguredError, KeyUnusableError, KeyVersionUnknownError } from '../../../domain/model/errors.js';
import type { KeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion, WrappedKey } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { gcmOpen, gcmSeal } from '../shared/aes-gcm.js';
import type { ModeWrapper } from './delinea.key-wrapper.js';
import { type KeyScope, parseScopedKeyId, scopedKeyVersion } from './delinea.key-id.js';
import { parseRing, type Ring } from './delinea.ring.js';
import type { SecretField } from './delinea.secret-field.js';

interface LoadedKey {
  readonly version: KeyVersion;
  readonly key: KeyObject;
}

/** A miss on a key_id of ours re-reads the ring at most this often (another node may have rotated). */
const MISS_REREAD_MS = 1_000;

/**
 * kek-source mode: the KEK ring lives in a Secret Server secret field; kleidi reads it with its
 * own credentials and wraps in process with AES-256-GCM (shared/aes-gcm.ts), the envelope header
 * as associated data. SECURITY: the KEKs are in kleidi's memory (docs/backends/delinea.md).
 * `currentVersion` reads the field on every call (the serve loop calls it once per refresh
 * interval), so a version written by `kleidi rotate` anywhere is followed within that interval;
 * when the field cannot be read, the keys already loaded keep serving and the error degrades
 * health. A malformed ring entry fails only its own version (KeyUnusableError).
 */
export class KekSourceKeyWrapper implements ModeWrapper {
  private keys = new Map<string, LoadedKey>();
  private broken = new Map<number, string>();
  private current: KeyVersion | undefined;
  private newestBroken: { version: number; reason: string } | undefined;
  private lastText: string | undefined;
  private lastMissReread = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly field: SecretField,
    private readonly scope: KeyScope,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  async currentVersion(signal: AbortSignal): Promise<KeyVersion> {
    await this.reload(signal);
    if (this.newestBroken) {
      const { version, reason } = this.newestBroken;
      throw new KeyUnusableError(
        `the newest KEK ring entry (version ${version}) in ${this.field.where} is malformed (${reason}); ` +
          'restore it from the secret history or run `kleidi rotate`',
      );
    }
    if (!this.current) throw new BackendMisconfiguredError(`${this.field.where} holds no usable KEK`);
    return this.current;
  }

  async wrap(seed: Uint8Array, version: KeyVersion, signal: AbortSignal): Promise<WrappedKey> {
    throwIfAborted(signal);
    const k = await this.lookup(version.keyId, signal);
    return { keyId: k.version.keyId, payload: gcmSeal(k.key, seed, envelopeHeader(k.version.keyId, 'aes-256-gcm')) };
  }

  async unwrap(wrapped: WrappedKey, signal: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal);
    const k = await this.lookup(wrapped.keyId, signal);
    return gcmOpen(k.key, wrapped.payload, envelopeHeader(wrapped.keyId, 'aes-256-gcm'), 'delinea');
  }

  /** Forgets the keys held in memory. */
  close(): void {
    this.keys = new Map();
    this.current = undefined;
  }

  /** Finds a KEK; a key_id of this secret that is not loaded re-reads the ring once (rate-limited). */
  private async lookup(keyId: KeyId, signal: AbortSignal): Promise<LoadedKey> {
    const named = parseScopedKeyId(this.scope, keyId);
    if (!named) throw new KeyVersionUnknownError(`key_id ${keyId} is not a KEK of ${this.field.where}`);
    let k = this.keys.get(keyId);
    if (!k && !this.broken.has(named.version) && this.clock.monotonic() - this.lastMissReread >= MISS_REREAD_MS) {
      this.lastMissReread = this.clock.monotonic();
      await this.reload(signal);
      k = this.keys.get(keyId);
    }
    if (k) return k;
    const reason = this.broken.get(named.version);
    if (reason !== undefined) {
      throw new KeyUnusableError(
        `KEK ring entry version ${named.version} in ${this.field.where} is malformed (${reason}); restore it from the secret history`,
      );
    }
    throw new KeyVersionUnknownError(`key_id ${keyId} is not in the KEK ring of ${this.field.where}`);
  }

  private async reload(signal: AbortSignal): Promise<void> {
    const text = await this.field.read(signal);
    if (text === this.lastText) return;
    const ring = parseRing(text, this.field.where);
    if (!ring) {
      throw new BackendMisconfiguredError(`${this.field.where} holds no KEK ring yet; run \`kleidi init\``);
    }
    this.install(ring);
    this.lastText = text;
  }

  private install(ring: Ring): void {
    const keys = new Map<string, LoadedKey>();
    for (const e of ring.entries) {
      const version = scopedKeyVersion(this.scope, e.version, e.id, e.createdAt);
      keys.set(version.keyId, { version, key: createSecretKey(e.material) });
    }
    const broken = new Map<number, string>();
    for (const b of ring.broken) {
      if (b.version !== undefined) broken.set(b.version, b.reason);
      this.log.warn(
        { entry: b.index, version: b.version, reason: b.reason },
        'a KEK ring entry is malformed; data under that version cannot be decrypted until it is restored',
      );
    }
    const newest = ring.entries.at(-1);
    const current = newest ? scopedKeyVersion(this.scope, newest.version, newest.id, newest.createdAt) : undefined;
    const newestBroken = ring.broken.find((b) => b.version === ring.newest);
    if (this.current && current && current.keyId !== this.current.keyId) {
      this.log.info({ keyId: current.keyId, version: current.version }, 'KEK ring has a new current version');
    }
    this.keys = keys;
    this.broken = broken;
    this.current = current;
    this.newestBroken =
      newestBroken || (newest && newest.version !== ring.newest)
        ? { version: ring.newest, reason: newestBroken?.reason ?? 'unreadable' }
        : undefined;
  }
}
