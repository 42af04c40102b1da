import { composeKeyId, type KeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion } from '../../../domain/model/key-version.js';

/** One key version in one vault or Managed HSM. */
export interface AzureKeyRef {
  /** The vault's host as written in key_ids: host name, and `%3A<port>` for a non-default port. */
  readonly vault: string;
  readonly name: string;
  readonly version: string;
}

/** Key names: 1-127 letters, digits and dashes (https://learn.microsoft.com/en-us/azure/key-vault/general/about-keys-secrets-certificates#objects-identifiers-and-versioning). */
export const KEY_NAME = /^[0-9A-Za-z-]{1,127}$/;
/** Key versions are 32 hexadecimal characters in Key Vault and Managed HSM. */
const VERSION = /^[0-9a-fA-F]{32}$/;
const VAULT = /^[a-z0-9.-]{1,253}(?:%3A\d{1,5})?$/;

/**
 * The vault part of a key_id: the host of the vault URL, lower case, with a non-default port
 * percent-encoded (`%3A`) because key_id parts are joined with ':' (composeKeyId).
 */
export function vaultPart(vaultUrl: URL): string {
  return vaultUrl.port ? `${vaultUrl.hostname.toLowerCase()}%3A${vaultUrl.port}` : vaultUrl.hostname.toLowerCase();
}

/**
 * key_id of one key version (docs/adr/0012-azure-key-vault.md):
 *   azure:<vault host>:<key name>:<version>
 * Key Vault never reuses a version identifier, so neither is a key_id reused; every node that
 * uses the same vault and key derives the same key_id from the same version.
 */
export function azureKeyVersion(ref: AzureKeyRef, createdSeconds: number | undefined): KeyVersion {
  const created = createdSeconds ?? 0;
  return {
    keyId: composeKeyId('azure', ref.vault, ref.name, ref.version.toLowerCase()),
    // Key Vault reports creation in whole seconds (KeyAttributes.created); `kleidi rotate` waits
    // for the next second, so versions it makes are strictly ordered.
    version: created,
    ...(createdSeconds !== undefined ? { createdAt: new Date(created * 1000).toISOString() } : {}),
  };
}

export function parseAzureKeyId(keyId: KeyId): AzureKeyRef | undefined {
  const parts = keyId.split(':');
  if (parts.length !== 4 || parts[0] !== 'azure') return undefined;
  const [, vault, name, version] = parts;
  if (!vault || !name || !version || !VAULT.test(vault) || !KEY_NAME.test(name) || !VERSION.test(version)) {
    return undefined;
  }
  return { vault, name, version };
}

/** The key version a `kid` (https://<vault>/keys/<name>/<version>) names. */
export function refFromKid(kid: string | undefined): AzureKeyRef | undefined {
  if (!kid) return undefined;
  let u: URL;
  try {
    u = new URL(kid);
  } catch {
    return undefined;
  }
  const m = /^\/keys\/([0-9A-Za-z-]{1,127})\/([0-9a-fA-F]{32})$/.exec(u.pathname);
  if (!m?.[1] || !m[2]) return undefined;
  return { vault: vaultPart(u), name: m[1], version: m[2].toLowerCase() };
}
