import type { BackendDefinition } from './backend.js';
import { inMemoryBackend } from './in-memory.js';
import { localBackend } from './local.js';

/** Every backend kleidi can serve; the config's `backend` picks one. */
export const backends: readonly BackendDefinition[] = [localBackend, inMemoryBackend];

export function backendByName(name: string): BackendDefinition | undefined {
  return backends.find((b) => b.name === name);
}

export function backendNames(): string[] {
  return backends.map((b) => b.name);
}
