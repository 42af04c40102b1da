import type { KeyAdmin } from '../../../ports/outbound/key-admin.port.js';
import type { DoctorCheck } from './doctor/report.js';

/** Flags as commander parsed them, before any validation. */
export type CliFlags = Record<string, unknown>;

/** The outcome of validating flags, environment and config file together. */
type Configured<C> =
  | { readonly ok: true; readonly config: C }
  /** `message` lists every problem; the CLI prints it and exits 2. */
  | { readonly ok: false; readonly message: string };

/** What `kleidi doctor` needs of the validated configuration, and the backend's own checks. */
export interface DoctorSubject {
  readonly backend: string;
  readonly socket: string;
  readonly socketMode: number;
  readonly socketGroup?: number | string;
  readonly maxCallDurationMs: number;
  /** The backend's configuration and reachability, one check each (never key material). */
  checkBackend(signal: AbortSignal): Promise<readonly DoctorCheck[]>;
}

/**
 * What the composition root hands the CLI. The CLI parses the command line,
 * prints and picks exit codes; everything that needs wiring (validating the
 * configuration, running the server, opening a backend) sits behind this
 * interface, so the CLI imports nothing from the composition. `C` is the
 * validated configuration, opaque to the CLI.
 */
export interface CliApp<C = unknown> {
  /** Every registered backend, in registry order, for `--backend` help. */
  readonly backendNames: readonly string[];
  /** The backend used when none is configured. */
  readonly defaultBackend: string;
  /** Validates flags over environment over config file over defaults. */
  configure(flags: CliFlags): Configured<C>;
  /** `kleidi serve`: runs until a signal has stopped it; resolves with the process exit code. */
  serve(config: C): Promise<number>;
  /** Opens the configured backend's KeyAdmin, hands it to `use`, and closes it again. */
  withKeyAdmin<T>(config: C, use: (admin: KeyAdmin) => Promise<T>): Promise<T>;
  /** The configuration facts and backend checks `kleidi doctor` works from. */
  doctor(config: C): DoctorSubject;
  /** Version facts for `kleidi version`. */
  version(): Readonly<Record<string, string>>;
}
