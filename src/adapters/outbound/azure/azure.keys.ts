import type { KeyProperties, KeyVaultKey, KeyWrapAlgorithm } from '@azure/keyvault-keys';
import { BackendMisconfiguredError, KeyUnusableError } from '../../../domain/model/errors.js';
import type { KeyVersion } from '../../../domain/model/key-version.js';
import { type AzureKeyRef, azureKeyVersion, refFromKid } from './azure.key-id.js';

/**
 * The wrap algorithm a key type takes (https://learn.microsoft.com/en-us/azure/key-vault/keys/about-keys-details):
 * RSA-OAEP-256 for RSA and RSA-HSM keys, AES key wrap for Managed HSM oct-HSM keys (A256KW for a
 * 256-bit key). The byte that names it leads the opaque blob, so an unwrap needs no key lookup.
 */
export const ALGORITHMS = { 1: 'RSA-OAEP-256', 2: 'A256KW' } as const satisfies Record<number, KeyWrapAlgorithm>;
export type AlgorithmCode = keyof typeof ALGORITHMS;

function algorithmFor(kty: string | undefined, keySize: number | undefined): AlgorithmCode | undefined {
  if (kty === 'RSA' || kty === 'RSA-HSM') return 1;
  if ((kty === 'oct-HSM' || kty === 'oct') && (keySize === undefined || keySize === 256)) return 2;
  return undefined;
}

/** Where a key version's creation time comes from: its attributes, in whole seconds. */
function createdSeconds(p: KeyProperties): number | undefined {
  return p.createdOn ? Math.floor(p.createdOn.getTime() / 1000) : undefined;
}

export function versionOfProperties(p: KeyProperties): KeyVersion & { ref: AzureKeyRef } {
  const ref = refFromKid(p.id);
  if (!ref)
    throw new BackendMisconfiguredError(`Key Vault reported a key id that is not a key version: ${String(p.id)}`);
  return { ...azureKeyVersion(ref, createdSeconds(p)), ref };
}

/**
 * Throws why kleidi cannot wrap with this key version, naming it and what an operator can do. A
 * key type that cannot wrap is a misconfiguration (refused at startup); a disabled, expired or
 * not-yet-valid version is a key state (health reports it and writes stop until it is fixed).
 */
export function assertWrapCapable(key: KeyVaultKey, now: number): AlgorithmCode {
  const alg = algorithmFor(key.keyType, keySizeOf(key));
  if (!alg) {
    throw new BackendMisconfiguredError(
      `key ${key.name} is of type ${String(key.keyType)}: kleidi needs an RSA or RSA-HSM key (RSA-OAEP-256) ` +
        'or a 256-bit Managed HSM oct-HSM key (A256KW)',
    );
  }
  const ops = key.keyOperations;
  if (ops && (!ops.includes('wrapKey') || !ops.includes('unwrapKey'))) {
    throw new BackendMisconfiguredError(
      `key ${key.name} does not permit wrapKey and unwrapKey (key_ops ${ops.join(',')})`,
    );
  }
  const problem = stateProblem(key.properties, now, 'wrap');
  if (problem) throw problem;
  return alg;
}

/**
 * Why a version cannot be used for `use`, or undefined. Key Vault applies exp and nbf to wrapping
 * only; `checkDates` applies them to an unwrap too, where the SDK refused it itself.
 */
export function stateProblem(
  p: KeyProperties,
  now: number,
  use: 'wrap' | 'unwrap',
  checkDates = use === 'wrap',
): KeyUnusableError | undefined {
  const named = `version ${p.version ?? '?'} of key ${p.name}`;
  if (p.enabled === false) {
    return new KeyUnusableError(
      use === 'wrap'
        ? `the current ${named} is disabled: enable it (az keyvault key set-attributes --enabled true) or run kleidi rotate`
        : `${named} is disabled: enable it to decrypt the data it wrapped (az keyvault key set-attributes --enabled true)`,
    );
  }
  if (!checkDates) return undefined;
  if (p.expiresOn && p.expiresOn.getTime() <= now) {
    return new KeyUnusableError(
      `${named} expired at ${p.expiresOn.toISOString()}: ` +
        (use === 'wrap'
          ? 'run kleidi rotate (or let the rotation policy add a version), or extend its expiry'
          : 'the Azure SDK refuses expired keys for every operation; extend its expiry to decrypt the data it wrapped'),
    );
  }
  if (p.notBefore && p.notBefore.getTime() > now) {
    return new KeyUnusableError(`${named} is not valid before ${p.notBefore.toISOString()}`);
  }
  return undefined;
}

function keySizeOf(key: KeyVaultKey): number | undefined {
  const k = key.key;
  if (k?.k) return k.k.length * 8;
  // oct-HSM keys never leave the HSM: their size is not in the JWK.
  return undefined;
}
