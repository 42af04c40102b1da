import type { BackendDefinition } from './backend.js';
import { inMemoryBackend } from './in-memory.js';
import { localBackend } from './local.js';
import { pkcs11Backend } from './pkcs11.js';
import { vaultBackend } from './vault.js';

/** Every backend kleidi can serve; the config's `backend` picks one. */
export const backends: readonly BackendDefinition[] = [localBackend, pkcs11Backend, vaultBackend, inMemoryBackend];

export function backendByName(name: string): BackendDefinition | undefined {
  return backends.find((b) => b.name === name);
}

export function backendNames(): string[] {
  return backends.map((b) => b.name);
}
