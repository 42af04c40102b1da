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
 * How a backend is proven against its real server (`npm run test:backend -- <name>`).
 * Paths are relative to the repository root; none of them is loaded by kleidi itself.
 */
export interface BackendTesting {
  /**
   * A module exporting `prepare()` (idempotent prerequisites: install or build the server) and
   * `start(dir)` (a fresh server with the backend's first key; resolves to the `KLEIDI_*`
   * settings and other env kleidi needs to use it, and `stop()`). Its type is
   * `BackendHarness` in test/backends/harness.ts. The conformance harness, the benchmark and
   * `npm run backend:server` start the server through it.
   */
  readonly harness: string;
  /** The vitest file running the KeyWrapper and KeyAdmin contract suites against the real server. */
  readonly contract: string;
  /** The reliability campaign file (test/reliability/<NN>-<name>.campaign.ts), which starts its own servers. */
  readonly campaign: string;
}

/**
 * One finding of a backend's own `kleidi doctor` checks (the CLI's DoctorCheck): what was found
 * and, for a failure, the fix. Never key material, a PIN or a token.
 */
export interface BackendCheck {
  readonly id: string;
  readonly status: 'pass' | 'fail' | 'skip' | 'warn';
  readonly detail: string;
  readonly fix?: string;
}

/**
 * One backend as the composition root sees it: the config section it owns
 * (validated by its zod schema; env `KLEIDI_<SECTION>_<FIELD>`), and
 * factories for its KeyWrapper (serve) and KeyAdmin (init/rotate/keys).
 * Everything that lists backends (CLI help, the configuration reference,
 * the dependency rules, the test and bench runners) derives from these
 * definitions (docs/adr/0006-backend-registry.md).
 */
export interface BackendDefinition<S extends z.ZodType = z.ZodType> {
  /** The value of `backend` / `KLEIDI_BACKEND` / `--backend`. */
  readonly name: string;
  /**
   * Where the key-encryption key lives, as a phrase without parentheses or semicolons (it is
   * set in parentheses in the configuration reference and the docs' backend table).
   */
  readonly summary: string;
  /** Config key of its section in YAML, e.g. "pkcs11"; env section is its upper snake case. */
  readonly section: string;
  readonly schema: S;
  /** Env vars holding secrets this backend reads itself; never parsed as settings. */
  readonly secretEnv?: readonly string[];
  /** Its adapter's folder under src/adapters/outbound/. */
  readonly adapter: string;
  /**
   * The npm packages its adapter imports. Only that folder may import them, and it may import
   * no other package (rules generated into dependency-cruiser's configuration).
   */
  readonly libraries: readonly string[];
  /** Its operator documentation, e.g. docs/backends/pkcs11.md. */
  readonly docs?: string;
  /** Absent for a backend with nothing outside the process to test against (in-memory). */
  readonly testing?: BackendTesting;
  /**
   * `kleidi doctor`'s checks of what must be in place before the backend can be opened
   * (files present, a token or PIN source given), each with its fix. Optional: doctor then
   * opens the KeyAdmin and lists the keys, which proves reachability and that the key is
   * readable; it skips that when a check here failed.
   */
  doctor?(config: z.output<S>, ctx: BackendContext): Promise<readonly BackendCheck[]>;
  openWrapper(config: z.output<S>, ctx: BackendContext): Promise<KeyWrapper>;
  openAdmin(config: z.output<S>, ctx: BackendContext): Promise<KeyAdmin>;
}

/** Keeps a definition's schema and factories type-linked. */
export function defineBackend<S extends z.ZodType>(def: BackendDefinition<S>): BackendDefinition<S> {
  return def;
}
