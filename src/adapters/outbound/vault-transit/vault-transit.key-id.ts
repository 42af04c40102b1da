import { composeKeyId, type KeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion } from '../../../domain/model/key-version.js';
import type { TransitKeyInfo } from './vault-transit.responses.js';

/** Where the transit key lives. */
export interface TransitKeyRef {
  readonly namespace?: string;
  readonly mount: string;
  readonly key: string;
}

/**
 * key_id of transit key version N (docs/adr/0005-vault-key-id-and-versions.md):
 *   vault:<namespace/>mount:<key>:v<N>:<creation time of version N, Unix seconds>
 * It is derived from Vault state alone, so every control-plane node reports the
 * same id, and the creation time keeps a deleted and recreated key from ever
 * reusing an id (the apiserver treats an unchanged id as an unchanged key).
 */
export function transitKeyVersion(ref: TransitKeyRef, version: number, createdSeconds: number): KeyVersion {
  return {
    keyId: composeKeyId('vault', mountPath(ref), ref.key, `v${version}`, String(createdSeconds)),
    version,
    createdAt: new Date(createdSeconds * 1_000).toISOString(),
  };
}

/** The version of `info` that a key_id names, if it names one of this key's versions as they exist now. */
export function versionFromKeyId(
  ref: TransitKeyRef,
  keyId: KeyId,
): { version: number; createdSeconds: number } | undefined {
  const prefix = `vault:${mountPath(ref)}:${ref.key}:v`;
  if (!keyId.startsWith(prefix)) return undefined;
  const m = /^(\d{1,9}):(\d{1,15})$/.exec(keyId.slice(prefix.length));
  if (!m?.[1] || !m[2]) return undefined;
  return { version: Number(m[1]), createdSeconds: Number(m[2]) };
}

/** Whether `info` still holds version N with the creation time recorded in the key_id. */
export function isSameVersion(info: TransitKeyInfo, v: { version: number; createdSeconds: number }): boolean {
  return info.versions.get(v.version) === v.createdSeconds;
}

/** The key version N a transit ciphertext `vault:vN:<base64>` was made with, or undefined if it is not one. */
export function versionFromCiphertext(blob: string): number | undefined {
  const m = /^vault:v(\d{1,9}):[A-Za-z0-9+/]+={0,2}$/.exec(blob);
  return m?.[1] ? Number(m[1]) : undefined;
}

/** Namespace and mount as one path segment of the id: a key in another namespace is another key. */
function mountPath(ref: TransitKeyRef): string {
  const trim = (s: string) => s.replace(/^\/+|\/+$/g, '');
  return ref.namespace ? `${trim(ref.namespace)}/${trim(ref.mount)}` : trim(ref.mount);
}
