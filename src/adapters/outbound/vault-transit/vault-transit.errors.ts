import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  KmsError,
} from '../../../domain/model/errors.js';

/**
 * One failed HTTP exchange with Vault, before it is given a meaning. Only the
 * adapter sees it: callers translate it with `toKmsError` (or a more specific
 * rule, such as transit's 400 on decrypt) so no vendor error crosses the port.
 */
export class VaultCallFailure extends Error {
  constructor(
    /** The HTTP status, or undefined when no response arrived. */
    readonly status: number | undefined,
    /** Vault's first error message or the transport error code; never a token. */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(status === undefined ? `Vault unreachable: ${detail}` : `Vault answered ${status}: ${detail}`, options);
    this.name = 'VaultCallFailure';
  }
}

const MAX_DETAIL = 120;

/**
 * Turns whatever node-vault or its transport rejected with into a
 * VaultCallFailure (KmsErrors pass through). SECURITY: the raw error is not
 * kept as `cause`: an HTTP client's error may carry the request (the
 * X-Vault-Token header and the base64 seed), and loggers serialise causes.
 */
export function classifyFailure(err: unknown): VaultCallFailure | KmsError {
  if (err instanceof KmsError || err instanceof VaultCallFailure) return err;
  const status = responseStatus(err);
  if (status !== undefined) return new VaultCallFailure(status, vaultMessage(err) ?? `status ${status}`);
  const code = field(err, 'code');
  return new VaultCallFailure(undefined, typeof code === 'string' ? code : 'transport error');
}

/**
 * Whether the same request may succeed if sent again soon: no answer at all,
 * 429, 5xx (503 is also what a sealed or standby-without-leader Vault says),
 * and 412 (a performance standby not yet caught up with a write).
 */
export function isRetryable(f: VaultCallFailure): boolean {
  if (f.status === undefined) return !isTlsTrustFailure(f);
  return f.status === 429 || f.status === 412 || f.status >= 500;
}

/**
 * Node's codes for a server certificate we do not trust or that names another
 * host. Retrying cannot fix them: the CA file or tlsServerName is wrong.
 */
const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function isTlsTrustFailure(f: VaultCallFailure): boolean {
  return f.status === undefined && TLS_TRUST_CODES.has(f.detail);
}

/** The generic meaning of a failure; `what` names the operation for the message. */
export function toKmsError(f: VaultCallFailure | KmsError, what: string): KmsError {
  if (f instanceof KmsError) return f;
  const opts = { cause: f };
  if (isTlsTrustFailure(f)) {
    return new BackendMisconfiguredError(
      `${what}: Vault's TLS certificate is not trusted (${f.detail}); check caFile and tlsServerName`,
      opts,
    );
  }
  if (f.status === undefined) return new BackendUnavailableError(`${what}: Vault unreachable (${f.detail})`, opts);
  if (f.status === 429) return new BackendThrottledError(`${what}: Vault is rate limiting (429)`, opts);
  if (f.status === 412 || f.status >= 500) {
    return new BackendUnavailableError(`${what}: Vault is not serving (${f.status}: ${f.detail})`, opts);
  }
  if (f.status === 403) {
    return new BackendMisconfiguredError(
      `${what}: permission denied after a fresh login; check the Vault policy of kleidi's role`,
      opts,
    );
  }
  if (f.status >= 300 && f.status < 400) {
    return new BackendMisconfiguredError(
      `${what}: Vault answered ${f.status}, ${f.detail}: kleidi follows no redirects; set address to a Vault ` +
        'address that serves requests itself (the active node, or a load balancer in front of the cluster)',
      opts,
    );
  }
  if (f.status === 404) {
    return new BackendMisconfiguredError(`${what}: not found in Vault (check mount, key and namespace)`, opts);
  }
  return new BackendMisconfiguredError(`${what}: Vault refused the request (${f.status}: ${f.detail})`, opts);
}

/** Whether a failure is Vault refusing the token (expired, revoked, or not allowed on this path). */
export function isPermissionDenied(err: unknown): boolean {
  return err instanceof VaultCallFailure && err.status === 403;
}

function responseStatus(err: unknown): number | undefined {
  const response = field(err, 'response');
  const status = field(response, 'statusCode') ?? field(response, 'status');
  return typeof status === 'number' ? status : undefined;
}

/** Vault's own error text, shortened; Vault never echoes tokens or plaintext in errors. */
function vaultMessage(err: unknown): string | undefined {
  const body = field(field(err, 'response'), 'body');
  const errors = field(body, 'errors');
  const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
  if (typeof first !== 'string' || first.length === 0) return undefined;
  const oneLine = first.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_DETAIL ? `${oneLine.slice(0, MAX_DETAIL)}…` : oneLine;
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}
