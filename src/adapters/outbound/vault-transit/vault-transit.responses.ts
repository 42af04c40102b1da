import { BackendUnavailableError } from '../../../domain/model/errors.js';

/**
 * Typed views of the few Vault responses kleidi reads. node-vault returns
 * `any`; everything is checked here so the rest of the adapter works with
 * plain typed values. A shape we do not recognise is reported as the backend
 * not serving correctly (a proxy error page, a different API version).
 */

/** A token as obtained from a login or a renewal. `ttlSeconds` 0 means it never expires. */
export interface VaultToken {
  readonly token: string;
  readonly ttlSeconds: number;
  readonly renewable: boolean;
}

/** The transit key's metadata (GET <mount>/keys/<name>); never key material. */
export interface TransitKeyInfo {
  readonly type: string;
  readonly derived: boolean;
  readonly latestVersion: number;
  readonly minDecryptionVersion: number;
  readonly minEncryptionVersion: number;
  /** Creation time of each version in Unix seconds. */
  readonly versions: ReadonlyMap<number, number>;
  /** The key's material can be read out with <mount>/export (Vault never lets this be turned off again). */
  readonly exportable: boolean;
  /** <mount>/backup may hand out the key's material in plaintext. */
  readonly allowPlaintextBackup: boolean;
  /** The key may be deleted, which makes every ciphertext under it undecryptable. */
  readonly deletionAllowed: boolean;
}

type Json = Record<string, unknown>;

export function parseAuth(body: unknown, what: string): VaultToken {
  const auth = obj(obj(body, what).auth, what);
  return {
    token: str(auth.client_token, what),
    ttlSeconds: num(auth.lease_duration, what),
    renewable: auth.renewable === true,
  };
}

/** lookup-self carries the TTL of a token we did not obtain ourselves (static token). */
export function parseLookupSelf(token: string, body: unknown): VaultToken {
  const data = obj(obj(body, 'token lookup').data, 'token lookup');
  return { token, ttlSeconds: num(data.ttl, 'token lookup'), renewable: data.renewable === true };
}

export function parseTransitKey(body: unknown): TransitKeyInfo {
  const what = 'transit key';
  const data = obj(obj(body, what).data, what);
  const versions = new Map<number, number>();
  for (const [v, created] of Object.entries(obj(data.keys, what))) {
    versions.set(Number(v), creationSeconds(created));
  }
  return {
    type: str(data.type, what),
    derived: data.derived === true,
    latestVersion: num(data.latest_version, what),
    minDecryptionVersion: num(data.min_decryption_version, what),
    minEncryptionVersion: num(data.min_encryption_version, what),
    versions,
    exportable: data.exportable === true,
    allowPlaintextBackup: data.allow_plaintext_backup === true,
    deletionAllowed: data.deletion_allowed === true,
  };
}

export function parseCiphertext(body: unknown): string {
  return str(obj(obj(body, 'encrypt').data, 'encrypt').ciphertext, 'encrypt');
}

export function parsePlaintext(body: unknown): Uint8Array {
  const b64 = str(obj(obj(body, 'decrypt').data, 'decrypt').plaintext, 'decrypt');
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

/** Symmetric keys report Unix seconds; asymmetric ones an object with an RFC 3339 creation_time. */
function creationSeconds(raw: unknown): number {
  if (typeof raw === 'number') return raw;
  const at = Date.parse(str(obj(raw, 'key version').creation_time, 'key version'));
  if (Number.isNaN(at)) throw unexpected('key version');
  return Math.floor(at / 1000);
}

function obj(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw unexpected(what);
  return v as Json;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0) throw unexpected(what);
  return v;
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw unexpected(what);
  return v;
}

function unexpected(what: string): BackendUnavailableError {
  return new BackendUnavailableError(`Vault returned an unexpected ${what} response`);
}
