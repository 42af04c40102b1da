import { composeKeyId, type KeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion } from '../../../domain/model/key-version.js';

/**
 * key_ids of the delinea backend (docs/adr/0013-delinea-backend.md):
 *   delinea:kek-source:<host>:secret-<id>/<field slug>:v<N>:<entry id>
 *   delinea:remote:<host>:<key path>:v<N>
 * `host` is the configured URL's host with ':' percent-encoded (composeKeyId reserves ':').
 * A ring entry's random id keeps its key_id from ever being reused, even for a recreated ring.
 * A DSV key exposes no such identity in its documented API, so a remote key_id ends at the
 * version: the docs tell operators never to force-delete and recreate a key under the same path.
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

export function scopedKeyVersion(
  scope: KeyScope,
  version: number,
  unique: string | undefined,
  createdAt?: string,
): KeyVersion {
  const parts = [scope.mode, scope.host, scope.object, `v${version}`, ...(unique === undefined ? [] : [unique])];
  return {
    keyId: composeKeyId('delinea', ...parts),
    version,
    ...(createdAt ? { createdAt } : {}),
  };
}

/** The version and unique part a key_id of `scope` names, or undefined for any other key_id. */
export function parseScopedKeyId(
  scope: KeyScope,
  keyId: KeyId,
): { version: number; unique: string | undefined } | undefined {
  const prefix = `delinea:${scope.mode}:${scope.host}:${scope.object}:v`;
  if (!keyId.startsWith(prefix)) return undefined;
  const m = (scope.mode === 'remote' ? /^(\d{1,9})()$/ : /^(\d{1,9}):([0-9a-z]{1,32})$/).exec(
    keyId.slice(prefix.length),
  );
  return m?.[1] ? { version: Number(m[1]), unique: m[2] || undefined } : undefined;
}
