import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  KmsError,
} from '../../../domain/model/errors.js';

/**
 * What a failed attempt means for the next one:
 * - `throttled`: quota exceeded (RESOURCE_EXHAUSTED); retry after a longer pause;
 * - `transient`: no answer, UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, ABORTED, or a response
 *   that failed its CRC32C check; retry;
 * - `final`: Cloud KMS answered and the same request would get the same answer.
 */
export type FailureClass = 'throttled' | 'transient' | 'final';

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const Status = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const NAMES = new Map<number, string>(Object.entries(Status).map(([k, v]) => [v, k]));

/**
 * One failed Cloud KMS request, before it is given a domain meaning. Only the adapter sees
 * it. SECURITY: the client's error is not kept as `cause`, only its status code, a
 * shortened message (Cloud KMS never puts key material or tokens in one) and the names of
 * request fields a BadRequest detail blames.
 */
export class GcpCallFailure extends Error {
  constructor(
    /** The gRPC status code, or undefined when the request got no status (client-side failure). */
    readonly code: number | undefined,
    readonly detail: string,
    readonly kind: FailureClass,
    /** Request fields named by a google.rpc.BadRequest detail (AIP-193), e.g. `plaintext_crc32c`. */
    readonly fields: readonly string[] = [],
  ) {
    super(`Cloud KMS ${code === undefined ? 'unreachable' : `answered ${NAMES.get(code) ?? code}`}: ${detail}`);
    this.name = 'GcpCallFailure';
  }

  get codeName(): string {
    if (this.code === undefined) return 'NO_STATUS';
    return NAMES.get(this.code) ?? `token endpoint HTTP ${this.code}`;
  }

  /** The credential plugin failed: the token endpoint answered this HTTP status (not a gRPC code). */
  get tokenEndpointStatus(): number | undefined {
    return this.code !== undefined && this.code > Status.UNAUTHENTICATED ? this.code : undefined;
  }

  /**
   * Cloud KMS refused the request's own CRC32C: the request was corrupted on the way (or
   * kleidi computed a wrong checksum). Google's guidance is a limited number of retries
   * (https://cloud.google.com/kms/docs/data-integrity-guidelines), so it is transient.
   */
  get requestChecksumRefused(): boolean {
    return this.code === Status.INVALID_ARGUMENT && this.fields.some((f) => /crc32c$/i.test(f));
  }
}

/** A response that failed kleidi's integrity checks; retried like a lost answer. */
export function integrityFailure(what: string): GcpCallFailure {
  return new GcpCallFailure(undefined, `response failed its integrity check: ${what}`, 'transient');
}

const MAX_DETAIL = 160;

/** Turns whatever the client rejected with into a GcpCallFailure; KmsErrors pass through. */
export function classifyFailure(err: unknown): GcpCallFailure | KmsError {
  if (err instanceof KmsError || err instanceof GcpCallFailure) return err;
  const code = typeof field(err, 'code') === 'number' ? (field(err, 'code') as number) : undefined;
  const detail = shorten(stringField(err, 'details') ?? stringField(err, 'message') ?? 'unknown error');
  const fields = badRequestFields(err);
  if (code === undefined) return new GcpCallFailure(undefined, detail, 'transient');
  if (code > Status.UNAUTHENTICATED) {
    // Not a gRPC status: grpc-js passes on the numeric code of a failed call-credentials plugin,
    // here the HTTP status of the token endpoint (STS, OAuth) google-auth-library called.
    const transientHttp = code >= 500 || code === 429 || code === 408;
    return new GcpCallFailure(code, detail, transientHttp ? 'transient' : 'final');
  }
  if (code === Status.RESOURCE_EXHAUSTED) return new GcpCallFailure(code, detail, 'throttled');
  const transient: number[] = [
    Status.UNAVAILABLE,
    Status.DEADLINE_EXCEEDED,
    Status.INTERNAL,
    Status.ABORTED,
    Status.UNKNOWN,
    Status.CANCELLED,
  ];
  const failure = new GcpCallFailure(code, detail, transient.includes(code) ? 'transient' : 'final', fields);
  return failure.requestChecksumRefused ? new GcpCallFailure(code, detail, 'transient', fields) : failure;
}

/**
 * The generic meaning of a failure; `what` names the operation and resource for the message,
 * which reaches kube-apiserver and the health reason.
 */
export function toKmsError(f: GcpCallFailure | KmsError, what: string): KmsError {
  if (f instanceof KmsError) return f;
  if (f.kind === 'throttled') {
    return new BackendThrottledError(`${what}: Cloud KMS quota exceeded (RESOURCE_EXHAUSTED)`, { cause: f });
  }
  if (f.requestChecksumRefused) {
    return new BackendUnavailableError(
      `${what}: Cloud KMS refused the request's CRC32C (${f.fields.join(', ')}) on every attempt: the request is ` +
        'corrupted on the way to Cloud KMS',
      { cause: f },
    );
  }
  if (f.kind === 'transient') {
    return f.code === undefined
      ? new BackendUnavailableError(`${what}: ${f.detail}`, { cause: f })
      : new BackendUnavailableError(`${what}: Cloud KMS is not serving (${f.codeName}: ${f.detail})`, { cause: f });
  }
  if (f.tokenEndpointStatus !== undefined) {
    return new BackendMisconfiguredError(
      `${what}: no access token: the token endpoint refused kleidi's credentials (HTTP ${f.tokenEndpointStatus}: ` +
        `${f.detail}); check gcp.credentialsFile (for workload identity federation: the subject token and the pool's provider)`,
      { cause: f },
    );
  }
  switch (f.code) {
    case Status.UNAUTHENTICATED:
      return new BackendMisconfiguredError(
        `${what}: Cloud KMS refused kleidi's credentials (UNAUTHENTICATED: ${f.detail}); check gcp.credentialsFile ` +
          'or Application Default Credentials',
        { cause: f },
      );
    case Status.PERMISSION_DENIED:
      return new BackendMisconfiguredError(
        `${what}: permission denied; grant kleidi's service account roles/cloudkms.cryptoKeyEncrypterDecrypter ` +
          `on the key (and roles/cloudkms.viewer to read it) (${f.detail})`,
        { cause: f },
      );
    case Status.NOT_FOUND:
      return new BackendMisconfiguredError(`${what}: not found in Cloud KMS (${f.detail})`, { cause: f });
    case Status.UNIMPLEMENTED:
      return new BackendMisconfiguredError(`${what}: the Cloud KMS endpoint does not implement this method`, {
        cause: f,
      });
    default:
      return new BackendMisconfiguredError(`${what}: Cloud KMS refused the request (${f.codeName}: ${f.detail})`, {
        cause: f,
      });
  }
}

/** Field names of google.rpc.BadRequest details, as google-gax decodes them into `statusDetails`. */
function badRequestFields(err: unknown): string[] {
  const details = field(err, 'statusDetails');
  if (!Array.isArray(details)) return [];
  const out: string[] = [];
  for (const d of details) {
    const violations = field(d, 'fieldViolations');
    if (!Array.isArray(violations)) continue;
    for (const v of violations) {
      const name = stringField(v, 'field');
      if (name) out.push(name);
    }
  }
  return out;
}

function shorten(s: string): string {
  const oneLine = s.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_DETAIL ? `${oneLine.slice(0, MAX_DETAIL)}…` : oneLine;
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function stringField(value: unknown, key: string): string | undefined {
  const v = field(value, key);
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}
