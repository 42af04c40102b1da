import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { classifyFailure, toKmsError, VaultCallFailure } from './vault-transit.errors.js';
import type { TransitKeyRef } from './vault-transit.key-id.js';
import { parseCiphertext, parsePlaintext, parseTransitKey, type TransitKeyInfo } from './vault-transit.responses.js';
import type { VaultSession } from './vault-transit.session.js';

/** Key types whose transit encryption takes `associated_data` (keysutil AssociatedDataSupported). */
const AEAD_TYPES = new Set(['aes128-gcm96', 'aes256-gcm96', 'chacha20-poly1305']);
/** Key types transit can encrypt and decrypt with, without a derivation context. */
const ENCRYPTING_TYPES = new Set([...AEAD_TYPES, 'rsa-2048', 'rsa-3072', 'rsa-4096']);

/** Whether kleidi can bind its envelope header to ciphertexts of this key type. */
export function bindsAssociatedData(info: TransitKeyInfo): boolean {
  return AEAD_TYPES.has(info.type);
}

/** Refuses keys kleidi cannot use, with a message that tells the operator what to change. */
export function assertUsableKey(ref: TransitKeyRef, info: TransitKeyInfo): void {
  if (!ENCRYPTING_TYPES.has(info.type)) {
    throw new BackendMisconfiguredError(
      `transit key ${ref.key} is of type ${info.type}, which cannot encrypt data keys`,
    );
  }
  if (info.derived) {
    throw new BackendMisconfiguredError(
      `transit key ${ref.key} is a derived key; kleidi needs a key without derivation`,
    );
  }
}

/**
 * The transit endpoints kleidi uses, through generic reads and writes so any
 * mount path works, plus a cache of the key's metadata (never key material).
 */
export class TransitApi {
  private cached: TransitKeyInfo | undefined;
  private readonly base: string;

  constructor(
    private readonly session: VaultSession,
    readonly ref: TransitKeyRef,
  ) {
    this.base = ref.mount.replace(/^\/+|\/+$/g, '');
  }

  /** Reads the key's metadata now; undefined when the key does not exist (404). */
  async readKey(signal: AbortSignal): Promise<TransitKeyInfo | undefined> {
    try {
      this.cached = parseTransitKey(await this.session.call({ method: 'GET', path: this.path('keys') }, signal));
      return this.cached;
    } catch (err) {
      const f = classifyFailure(err);
      if (f instanceof VaultCallFailure && f.status === 404) return undefined;
      throw toKmsError(f, `reading transit key ${this.ref.key}`);
    }
  }

  /** The metadata as last read (by currentVersion's regular refresh), reading it when none is held. */
  async keyInfo(signal: AbortSignal): Promise<TransitKeyInfo | undefined> {
    return this.cached ?? this.readKey(signal);
  }

  async createKey(type: string, signal: AbortSignal): Promise<void> {
    await this.write('keys', { type }, signal, `creating transit key ${this.ref.key}`);
  }

  async rotate(signal: AbortSignal): Promise<void> {
    await this.write('keys', undefined, signal, `rotating transit key ${this.ref.key}`, '/rotate');
  }

  /** Encrypts with exactly `version`; rejects with VaultCallFailure on a 400 for the caller to interpret. */
  async encrypt(
    plaintext: Uint8Array,
    version: number,
    ad: Uint8Array | undefined,
    signal: AbortSignal,
  ): Promise<string> {
    const body = { plaintext: b64(plaintext), key_version: version, ...(ad ? { associated_data: b64(ad) } : {}) };
    return parseCiphertext(await this.transitCall('encrypt', body, signal));
  }

  async decrypt(ciphertext: string, ad: Uint8Array | undefined, signal: AbortSignal): Promise<Uint8Array> {
    const body = { ciphertext, ...(ad ? { associated_data: b64(ad) } : {}) };
    return parsePlaintext(await this.transitCall('decrypt', body, signal));
  }

  private async transitCall(op: string, body: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    try {
      return await this.session.call({ method: 'POST', path: this.path(op), body }, signal);
    } catch (err) {
      const f = classifyFailure(err);
      if (f instanceof VaultCallFailure && f.status === 400) throw f;
      throw toKmsError(f, `transit ${op} with key ${this.ref.key}`);
    }
  }

  /** Admin writes are not idempotent (a retried rotate could rotate twice), so they are sent once. */
  private async write(
    op: string,
    body: Record<string, unknown> | undefined,
    signal: AbortSignal,
    what: string,
    suffix = '',
  ) {
    try {
      await this.session.call(
        { method: 'POST', path: this.path(op) + suffix, body: body ?? {}, idempotent: false },
        signal,
      );
    } catch (err) {
      throw toKmsError(classifyFailure(err), what);
    }
  }

  private path(op: string): string {
    return `${this.base}/${op}/${encodeURIComponent(this.ref.key)}`;
  }
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
