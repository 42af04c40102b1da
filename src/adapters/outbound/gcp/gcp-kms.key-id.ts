import { composeKeyId, type KeyId } from '../../../domain/model/key-id.js';

/**
 * One CryptoKey, as its resource name spells it:
 * `projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>`
 * (https://cloud.google.com/kms/docs/resource-hierarchy). Key ring and key ids are
 * 1 to 63 letters, digits, `_` or `-` (https://cloud.google.com/kms/docs/create-key-ring,
 * https://cloud.google.com/kms/docs/create-key); none of the parts can hold a ':'.
 */
export interface CryptoKeyRef {
  readonly project: string;
  readonly location: string;
  readonly ring: string;
  readonly key: string;
}

/** Project ids (6-30 lowercase letters, digits, hyphens) or project numbers. */
const PROJECT = '([a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})';
const LOCATION = '([a-z][a-z0-9-]{0,62})';
const ID = '([A-Za-z0-9_-]{1,63})';
const KEY_NAME = new RegExp(`^projects/${PROJECT}/locations/${LOCATION}/keyRings/${ID}/cryptoKeys/${ID}$`);
const VERSION_NAME = new RegExp(
  `^projects/${PROJECT}/locations/${LOCATION}/keyRings/${ID}/cryptoKeys/${ID}/cryptoKeyVersions/([1-9][0-9]{0,18})$`,
);

/** Parses the `gcp.key` setting; undefined when it is not a CryptoKey resource name. */
export function parseCryptoKeyName(name: string): CryptoKeyRef | undefined {
  const m = KEY_NAME.exec(name);
  if (!m?.[1] || !m[2] || !m[3] || !m[4]) return undefined;
  return { project: m[1], location: m[2], ring: m[3], key: m[4] };
}

export function cryptoKeyName(k: CryptoKeyRef): string {
  return `projects/${k.project}/locations/${k.location}/keyRings/${k.ring}/cryptoKeys/${k.key}`;
}

export function keyRingName(k: CryptoKeyRef): string {
  return `projects/${k.project}/locations/${k.location}/keyRings/${k.ring}`;
}

/** One CryptoKeyVersion: its key and its version id (a decimal number Cloud KMS assigns, from 1). */
export interface VersionRef extends CryptoKeyRef {
  readonly version: string;
}

export function parseVersionName(name: string): VersionRef | undefined {
  const m = VERSION_NAME.exec(name);
  if (!m?.[1] || !m[2] || !m[3] || !m[4] || !m[5]) return undefined;
  return { project: m[1], location: m[2], ring: m[3], key: m[4], version: m[5] };
}

export function versionName(v: VersionRef): string {
  return `${cryptoKeyName(v)}/cryptoKeyVersions/${v.version}`;
}

/**
 * The key_id of a CryptoKeyVersion: `gcp:<project>:<location>:<ring>:<key>:<version>`
 * (docs/adr/0011-gcp-kms-key-id.md). Cloud KMS never reuses the name of a key ring, key or
 * version (they cannot be deleted, only their material destroyed), so a key_id never names
 * other key material.
 */
export function gcpKeyId(v: VersionRef): KeyId {
  return composeKeyId('gcp', v.project, v.location, v.ring, v.key, v.version);
}

/** A key_id this backend issued, taken apart; undefined for anything else. */
export function parseGcpKeyId(keyId: KeyId): VersionRef | undefined {
  const parts = keyId.split(':');
  if (parts.length !== 6 || parts[0] !== 'gcp') return undefined;
  const [, project, location, ring, key, version] = parts as [string, string, string, string, string, string];
  return parseVersionName(versionName({ project, location, ring, key, version }));
}
