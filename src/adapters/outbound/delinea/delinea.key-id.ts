import { composeKeyId, type KeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion } from '../../../domain/model/key-version.js';

/**
 * key_ids of the delinea backend (docs/adr/0013-delinea-backend.md):
 *   delinea:kek-source:<host>:secret-<id>/<field slug>:v<N>:<entry id>
 *   delinea:remote:<host>:<key path>:v<N>:<creation time, Unix seconds>
 * `host` is the configured URL's host with ':' percent-encoded (composeKeyId reserves ':').
 * The last part keeps an id from ever being reused: a random entry id for a ring entry, the
 * version's creation time for a DSV key (a deleted and recreated key restarts at version 1).
 */
export interface KeyScope {
  readonly mode: 'kek-source' | 'remote';
  readonly host: string;
  /** `secret-<id>/<slug>` or the DSV key path. */
  readonly object: string;
}

export function hostPart(url: URL): string {
  return encodeURIComponent(url.host);
}

export function scopedKeyVersion(scope: KeyScope, version: number, unique: string, createdAt?: string): KeyVersion {
  return {
    keyId: composeKeyId('delinea', scope.mode, scope.host, scope.object, `v${version}`, unique),
    version,
    ...(createdAt ? { createdAt } : {}),
  };
}

/** The version and unique part a key_id of `scope` names, or undefined for any other key_id. */
export function parseScopedKeyId(scope: KeyScope, keyId: KeyId): { version: number; unique: string } | undefined {
  const prefix = `delinea:${scope.mode}:${scope.host}:${scope.object}:v`;
  if (!keyId.startsWith(prefix)) return undefined;
  const m = /^(\d{1,9}):([0-9a-z]{1,32})$/.exec(keyId.slice(prefix.length));
  return m?.[1] && m[2] ? { version: Number(m[1]), unique: m[2] } : undefined;
}
