import type { z } from 'zod';
import type { KeyAdmin } from '../../ports/outbound/key-admin.port.js';
import type { KeyWrapper } from '../../ports/outbound/key-wrapper.port.js';
import type { Clock } from '../../ports/outbound/clock.port.js';
import type { Logger } from '../../ports/outbound/logger.port.js';

/** What every backend factory may use; secrets are read by the factory from files or env. */
export interface BackendContext {
  readonly logger: Logger;
  readonly clock: Clock;
  /** The validated `stateDir` setting (kleidi's own writable directory). */
  readonly stateDir: string;
  /** The process environment, for secrets passed as env vars (never argv). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * One backend as the composition root sees it: the config section it owns
 * (validated by its zod schema; env `KLEIDI_<SECTION>_<FIELD>`), and
 * factories for its KeyWrapper (serve) and KeyAdmin (init/rotate/keys).
 */
export interface BackendDefinition<S extends z.ZodType = z.ZodType> {
  /** The value of `backend` / `KLEIDI_BACKEND` / `--backend`. */
  readonly name: string;
  /** Config key of its section in YAML, e.g. "pkcs11"; env section is its upper snake case. */
  readonly section: string;
  readonly schema: S;
  /** Env vars holding secrets this backend reads itself; never parsed as settings. */
  readonly secretEnv?: readonly string[];
  openWrapper(config: z.output<S>, ctx: BackendContext): Promise<KeyWrapper>;
  openAdmin(config: z.output<S>, ctx: BackendContext): Promise<KeyAdmin>;
}

/** Keeps a definition's schema and factories type-linked. */
export function defineBackend<S extends z.ZodType>(def: BackendDefinition<S>): BackendDefinition<S> {
  return def;
}
