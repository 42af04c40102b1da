import type { KubeResource, ReencryptProgress, ReencryptSummary } from '../../../domain/model/reencrypt.js';
import type { UsageReport } from '../../../domain/model/usage.js';
import type { RetireOutcome, ScanEvidence, ServingKey } from '../../../domain/model/retire-decision.js';
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

/** A KEK version as `kleidi tpm` prints it: never key material. */
export interface TpmVersionFact {
  readonly version: number;
  readonly keyId: string;
}

/**
 * `kleidi tpm …`, the TPM backend's offline provisioning (docs/adr/0014-tpm-backend.md), for the
 * configured `tpm` section. Files are paths the operator names; secrets (the ring, the auth
 * value) come from the section's files, never from a flag.
 */
export interface TpmProvisioning {
  /** This node's enrollment document (its storage key's public area, not secret). */
  enroll(): Promise<{ readonly document: unknown; readonly srkName: string }>;
  /** A new KEK version in the ring file (the ring is created with version 1). No TPM needed. */
  addVersion(): Promise<TpmVersionFact & { readonly created: boolean }>;
  /** Writes the import bundle for one enrolled node to `outFile`. No TPM needed. */
  provision(
    enrollmentFile: string,
    outFile: string,
    current?: number,
  ): Promise<{ readonly srkName: string; readonly current: number; readonly versions: readonly TpmVersionFact[] }>;
  /** Imports a bundle into this node's TPM and node key file. */
  importBundle(bundleFile: string): Promise<{
    readonly srkName: string;
    readonly current: number;
    readonly versions: readonly (TpmVersionFact & { readonly imported: boolean })[];
  }>;
}

/** `kleidi usage`: where etcd is (kube-apiserver's --etcd-* flags) and how to scan it. */
export interface UsageRequest {
  readonly etcd: {
    readonly servers: readonly string[];
    readonly caFile?: string;
    readonly certFile?: string;
    /** A path; the file is read as a secret (owner, mode, no links). */
    readonly keyFile?: string;
  };
  /** kube-apiserver's --etcd-prefix (default /registry). */
  readonly prefix: string;
  /** Only these resources; every resource when empty. */
  readonly resources: readonly string[];
  readonly pageSize: number;
  readonly maxKeysPerSecond: number;
  /** Open the configured backend to name kleidi's version of each key_id. */
  readonly withKeys: boolean;
  readonly onProgress?: (scanned: number, revision: number) => void;
}

export interface UsageOutcome {
  readonly report: UsageReport;
  /** Why kleidi's key versions are not in the report, when they were asked for and could not be listed. */
  readonly keysUnavailable?: string;
}

/** `kleidi retire VERSION`: what to retire and the scan that is to prove nothing depends on it. */
export interface RetireRequest {
  readonly version: number;
  readonly force: boolean;
  readonly maxScanAgeMs: number;
  /** The current key_id each plugin asked (`--socket`) reported in Status. */
  readonly serving: readonly ServingKey[];
  readonly scan: /** A fresh scan of every resource, with `kleidi usage`'s etcd settings. */
    | { readonly saved: false; readonly etcd: Omit<UsageRequest, 'withKeys' | 'resources'> }
    /** A saved `kleidi usage --output json` report, as read from `file`. */
    | { readonly saved: true; readonly file: string; readonly report: ScanEvidence };
}

/** `kleidi reencrypt` (ADR 0019): which cluster, which resources, how fast, where the checkpoint is. */
export interface ReencryptRequest {
  /** --kubeconfig; otherwise KUBECONFIG, ~/.kube/config, then the in-cluster service account. */
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly resources: readonly KubeResource[];
  readonly objectsPerSecond: number;
  readonly pageSize: number;
  readonly dryRun: boolean;
  readonly restart: boolean;
  /** The checkpoint file. */
  readonly statePath: string;
  readonly checkpointEvery: number;
  /** Aborting it stops after the object in flight (SIGINT). */
  readonly stop: AbortSignal;
  readonly onProgress?: (p: ReencryptProgress) => void;
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
  /** `kleidi tpm …` for a configuration loaded with backend `tpm`. */
  tpm(config: C): TpmProvisioning;
  /** `kleidi usage`: a read-only scan of etcd. */
  usage(config: C, req: UsageRequest, signal: AbortSignal): Promise<UsageOutcome>;
  /** `kleidi retire VERSION`: retires it only when the scan shows nothing depends on it. */
  retire(config: C, req: RetireRequest, signal: AbortSignal): Promise<RetireOutcome>;
  /** `kleidi reencrypt`: every object of the resources read and written back through kube-apiserver. */
  reencrypt(req: ReencryptRequest, signal: AbortSignal): Promise<ReencryptSummary>;
  /** Version facts for `kleidi version`. */
  version(): Readonly<Record<string, string>>;
}
