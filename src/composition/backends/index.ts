import { awsBackend } from './aws.js';
import { azureBackend } from './azure.js';
import type { BackendDefinition } from './backend.js';
import { gcpBackend } from './gcp.js';
import { delineaBackend } from './delinea.js';
import { inMemoryBackend } from './in-memory.js';
import { localBackend } from './local.js';
import { pkcs11Backend } from './pkcs11.js';
import { tpmBackend } from './tpm.js';
import { vaultBackend } from './vault.js';

/**
 * Every backend kleidi can serve; the config's `backend` picks one. Adding a backend is its
 * adapter folder plus one entry here: help text, configuration reference, dependency rules
 * and the test and bench runners all read this list (docs/adr/0006-backend-registry.md).
 */
export const backends: readonly BackendDefinition[] = [
  localBackend,
  pkcs11Backend,
  vaultBackend,
  awsBackend,
  gcpBackend,
  azureBackend,
  delineaBackend,
  tpmBackend,
  inMemoryBackend,
];

/** The backend used when none is configured: the one that needs no external service. */
export const DEFAULT_BACKEND = localBackend.name;

export function backendByName(name: string): BackendDefinition | undefined {
  return backends.find((b) => b.name === name);
}

export function backendNames(registry: readonly BackendDefinition[] = backends): string[] {
  return registry.map((b) => b.name);
}

/** "a, b or c" */
const either = (items: readonly string[]) =>
  items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;

/** What the `backend` setting means, one clause per backend (configuration reference). */
export function backendSettingDescription(registry: readonly BackendDefinition[] = backends): string {
  return `Where the key-encryption key lives: ${either(registry.map((b) => `\`${b.name}\` (${b.summary})`))}.`;
}
