import { BackendMisconfiguredError, KmsError } from '../../../domain/model/errors.js';
import { abortable } from '../../../domain/services/abortable.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { classifyFailure, toKmsError, VaultCallFailure } from './vault-transit.errors.js';
import type { TransitKeyRef } from './vault-transit.key-id.js';
import { parseCiphertext, parsePlaintext, parseTransitKey, type TransitKeyInfo } from './vault-transit.responses.js';
import type { VaultSession } from './vault-transit.session.js';

/**
 * A key_id or ciphertext the cached metadata cannot explain triggers at most
 * one fresh metadata read per this interval, shared by concurrent callers:
 * made-up key_ids cost Vault one read a second, not one per Decrypt (the
 * PKCS#11 catalog's rescan guard allows the same).
 */
const MISS_REREAD_MS = 1_000;

/** A signal that never aborts: a read shared by several callers is bounded by the client's call budget. */
const SHARED = new AbortController().signal;

/** The outcome of the last metadata read, on the monotonic clock. */
type LastRead = { readonly at: number } & (
  | { readonly info: TransitKeyInfo | undefined }
  | { readonly error: KmsError }
);

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
  private lastRead: LastRead | undefined;
  private missRead: Promise<TransitKeyInfo | undefined> | undefined;
  private readonly reported = new Set<string>();
  private readonly base: string;

  constructor(
    private readonly session: VaultSession,
    readonly ref: TransitKeyRef,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.base = ref.mount.replace(/^\/+|\/+$/g, '');
  }

  /** Reads the key's metadata now; undefined when the key does not exist (404). */
  async readKey(signal: AbortSignal): Promise<TransitKeyInfo | undefined> {
    try {
      return this.remember(
        parseTransitKey(await this.session.call({ method: 'GET', path: this.path('keys') }, signal)),
      );
    } catch (err) {
      const f = classifyFailure(err);
      if (f instanceof VaultCallFailure && f.status === 404) {
        this.lastRead = { at: this.clock.monotonic(), info: undefined };
        return undefined;
      }
      throw toKmsError(f, `reading transit key ${this.ref.key}`);
    }
  }

  /**
   * Metadata for a key_id or ciphertext the cached copy does not explain: the
   * outcome of a read at most MISS_REREAD_MS old, else a new read that
   * concurrent callers share.
   */
  async freshKey(signal: AbortSignal): Promise<TransitKeyInfo | undefined> {
    const last = this.lastRead;
    if (last && this.clock.monotonic() - last.at < MISS_REREAD_MS) {
      if ('error' in last) throw last.error;
      return last.info;
    }
    // A failed shared read is remembered too, so a flood during an outage does not multiply the reads.
    this.missRead ??= this.readKey(SHARED)
      .catch((err: unknown) => {
        const error = err instanceof KmsError ? err : toKmsError(classifyFailure(err), 'reading transit key');
        this.lastRead = { at: this.clock.monotonic(), error };
        throw error;
      })
      .finally(() => (this.missRead = undefined));
    return abortable(this.missRead, signal);
  }

  /** The metadata as last read (by currentVersion's regular refresh), reading it when none is held. */
  async keyInfo(signal: AbortSignal): Promise<TransitKeyInfo | undefined> {
    return this.cached ?? this.readKey(signal);
  }

  /** Creates the key; transit's create leaves an existing key as it is. */
  async createKey(type: string, signal: AbortSignal): Promise<void> {
    await this.write('keys', { type }, signal, `creating transit key ${this.ref.key}`);
  }

  /**
   * Adds a version. Vault answers with the key's metadata as it stood right
   * after this rotation, taken under the key's lock, so its latest version is
   * the one this call added even when others rotate at the same time
   * (https://github.com/hashicorp/vault/blob/v1.21.4/builtin/logical/transit/path_rotate.go);
   * undefined from a server that answers 204 instead.
   */
  async rotate(signal: AbortSignal): Promise<TransitKeyInfo | undefined> {
    const body = await this.write('keys', undefined, signal, `rotating transit key ${this.ref.key}`, '/rotate');
    return hasData(body) ? this.remember(parseTransitKey(body)) : undefined;
  }

  /**
   * Sets the key's minimum decryption (and encryption) version: versions below it stay in
   * Vault's archive but no longer decrypt, and lowering it again brings them back
   * (https://developer.hashicorp.com/vault/api-docs/secret/transit#update-key-configuration).
   * Needs `update` on <mount>/keys/<key>/config.
   */
  async setMinimumVersions(min: { decryption: number; encryption?: number }, signal: AbortSignal): Promise<void> {
    const body = {
      min_decryption_version: min.decryption,
      ...(min.encryption === undefined ? {} : { min_encryption_version: min.encryption }),
    };
    await this.write('keys', body, signal, `configuring transit key ${this.ref.key}`, '/config');
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
      return await this.session.call(
        { method: 'POST', path: this.path(op) + suffix, body: body ?? {}, idempotent: false },
        signal,
      );
    } catch (err) {
      throw toKmsError(classifyFailure(err), what);
    }
  }

  private remember(info: TransitKeyInfo): TransitKeyInfo {
    this.cached = info;
    this.lastRead = { at: this.clock.monotonic(), info };
    this.warnRisky(info);
    return info;
  }

  /**
   * Warns once per process about key settings that let the KEK leave Vault or
   * be destroyed. exportable and allow_plaintext_backup cannot be turned off
   * once set (https://developer.hashicorp.com/vault/api-docs/secret/transit#create-key);
   * deletion_allowed can.
   */
  private warnRisky(info: TransitKeyInfo): void {
    const { mount, key } = this.ref;
    const risks: [boolean, string, string][] = [
      [
        info.exportable,
        'exportable',
        `transit key ${key} is exportable: anyone whose policy allows ${mount}/export/.../${key} can read the ` +
          'key-encryption key out of Vault; Vault cannot turn this off, so move to a new, non-exportable key',
      ],
      [
        info.allowPlaintextBackup,
        'allow_plaintext_backup',
        `transit key ${key} allows plaintext backup: ${mount}/backup/${key} hands out the key-encryption key; ` +
          'Vault cannot turn this off, so move to a new key without it',
      ],
      [
        info.deletionAllowed,
        'deletion_allowed',
        `transit key ${key} may be deleted, which would make every Secret it protects unreadable; ` +
          `turn it off: vault write ${mount}/keys/${key}/config deletion_allowed=false`,
      ],
    ];
    for (const [risky, setting, message] of risks) {
      if (!risky || this.reported.has(setting)) continue;
      this.reported.add(setting);
      this.log.warn({ setting }, message);
    }
  }

  private path(op: string): string {
    return `${this.base}/${op}/${encodeURIComponent(this.ref.key)}`;
  }
}

function hasData(body: unknown): boolean {
  return typeof body === 'object' && body !== null && 'data' in body && body.data !== null;
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
