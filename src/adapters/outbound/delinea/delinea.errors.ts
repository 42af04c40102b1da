import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  KmsError,
} from '../../../domain/model/errors.js';

/**
 * One failed exchange with a Delinea server, before it is given a meaning. Only the adapter
 * sees it: `toKmsError` translates it on the HTTP status (never on message text), so no vendor
 * error crosses the port. SECURITY: it never holds a request or response body, only the
 * server's short error code, so no token, password or key reaches a log through it.
 */
export class DelineaCallFailure extends Error {
  constructor(
    /** The HTTP status, or undefined when no response arrived. */
    readonly status: number | undefined,
    /** The server's error code (`errorCode`, `code` or OAuth `error`) or the transport error code. */
    readonly detail: string,
    /** Retry-After in ms when the server sent one (429, 503). */
    readonly retryAfterMs?: number,
  ) {
    super(status === undefined ? `Delinea unreachable: ${detail}` : `Delinea answered ${status}: ${detail}`);
    this.name = 'DelineaCallFailure';
  }
}

/**
 * Node's codes for a server certificate we do not trust or that names another host: retrying
 * cannot fix them, the CA file or the URL is wrong.
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

function isTlsTrustFailure(f: DelineaCallFailure): boolean {
  return f.status === undefined && TLS_TRUST_CODES.has(f.detail);
}

/**
 * Whether the same request may succeed if sent again soon: no answer at all (except a TLS
 * trust failure), 429 (rate limited) and 5xx. A 401 is not retried with the same credential
 * (the caller fetches one fresh token once, then gives up), nor is any other 4xx.
 */
export function isRetryable(f: DelineaCallFailure): boolean {
  if (f.status === undefined) return !isTlsTrustFailure(f);
  return f.status === 429 || f.status >= 500;
}

/** The meaning of a failure; `what` names the operation (and object) for the message. */
export function toKmsError(f: DelineaCallFailure | KmsError, what: string): KmsError {
  if (f instanceof KmsError) return f;
  const opts = { cause: f };
  if (isTlsTrustFailure(f)) {
    return new BackendMisconfiguredError(
      `${what}: the Delinea server's TLS certificate is not trusted (${f.detail}); check delinea.caFile and delinea.url`,
      opts,
    );
  }
  if (f.status === undefined) return new BackendUnavailableError(`${what}: Delinea unreachable (${f.detail})`, opts);
  if (f.status === 429) return new BackendThrottledError(`${what}: Delinea is rate limiting (429)`, opts);
  if (f.status >= 500) return new BackendUnavailableError(`${what}: Delinea is not serving (${f.status})`, opts);
  if (f.status === 401) {
    return new BackendMisconfiguredError(
      `${what}: authentication refused (401, ${f.detail}) after a fresh token; check delinea.username and delinea.credentialFile`,
      opts,
    );
  }
  if (f.status === 403) {
    return new BackendMisconfiguredError(
      `${what}: permission denied (403, ${f.detail}); grant kleidi's account access to it`,
      opts,
    );
  }
  if (f.status === 404) return new BackendMisconfiguredError(`${what}: not found (404, ${f.detail})`, opts);
  return new BackendMisconfiguredError(`${what}: refused (${f.status}, ${f.detail})`, opts);
}

const MAX_DETAIL = 64;

/**
 * The short error code of an error body, if any: Secret Server's `errorCode`
 * (https://docs.delinea.com/online-help/secret-server/api-scripting/rest-api/index.htm), DSV's
 * `code` (https://docs.delinea.com/online-help/devops-secrets-vault/api-reference/index.htm),
 * the OAuth 2.0 `error` (RFC 6749 §5.2, https://www.rfc-editor.org/rfc/rfc6749#section-5.2).
 * Only a token of safe characters is kept: free text could echo request data.
 */
export function errorCode(body: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null) return undefined;
  const d = doc as Record<string, unknown>;
  for (const k of ['errorCode', 'code', 'error']) {
    const v = d[k];
    if ((typeof v === 'string' || typeof v === 'number') && /^[A-Za-z0-9_.-]{1,64}$/.test(String(v))) {
      return String(v).slice(0, MAX_DETAIL);
    }
  }
  return undefined;
}
