import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  KmsError,
} from '../../../domain/model/errors.js';

/**
 * What a failed attempt means for the next one:
 * - `throttled`: 429; retry after Retry-After when it fits the budget;
 * - `transient`: no answer, a 5xx, or no token could be fetched yet; retry;
 * - `local`: the SDK refused before sending (CryptographyClient checks a key's exp and nbf
 *   itself); the caller reads the key's attributes to tell why;
 * - `final`: Key Vault or Entra ID answered and the same request would get the same answer.
 */
export type FailureClass = 'throttled' | 'transient' | 'local' | 'final';

/**
 * One failed request, before it is given a domain meaning. SECURITY: the SDK's error is not kept
 * as `cause` (it holds the request); only the status, the error code fields and a shortened
 * message, which Key Vault never fills with tokens or key material.
 */
export class AzureCallFailure extends Error {
  constructor(
    /** Key Vault's error.code (`KeyNotFound`, `Forbidden`, `Throttled`), Entra's `error`, or a transport code. */
    readonly code: string,
    /** The HTTP status, or undefined when no answer arrived. */
    readonly status: number | undefined,
    readonly detail: string,
    readonly kind: FailureClass,
    /** error.innererror.code (`ForbiddenByRbac`, `KeyDisabled`), when present. */
    readonly inner?: string,
    /** Retry-After in ms, when the answer had one. */
    readonly retryAfterMs?: number,
  ) {
    super(status === undefined ? `Key Vault unreachable: ${code}` : `Key Vault answered ${status} ${code}: ${detail}`);
    this.name = 'AzureCallFailure';
  }
}

const MAX_DETAIL = 200;

/** Entra ID `error` values that new attempts will not fix (https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes). */
const BAD_CLIENT = new Set([
  'invalid_client',
  'unauthorized_client',
  'invalid_scope',
  'invalid_request',
  'invalid_grant',
]);

/** Turns whatever the SDK rejected with into an AzureCallFailure; KmsErrors pass through. */
export function classifyFailure(err: unknown): AzureCallFailure | KmsError {
  if (err instanceof KmsError || err instanceof AzureCallFailure) return err;
  const name = stringField(err, 'name') ?? 'Error';
  const message = shorten(stringField(err, 'message') ?? name);
  if (name === 'CredentialUnavailableError') {
    // No credential source answered (IMDS not reachable yet, no federated token file yet).
    return new AzureCallFailure(name, undefined, message, 'transient');
  }
  if (name === 'AuthenticationError') {
    const status = numberField(err, 'statusCode');
    const error = stringField(field(err, 'errorResponse'), 'error') ?? 'authentication_failed';
    const final = status !== undefined && status < 500 && BAD_CLIENT.has(error);
    return new AzureCallFailure(error, status, message, final ? 'final' : 'transient', 'token');
  }
  if (name === 'AuthenticationRequiredError') {
    // What @azure/identity makes of an MSAL failure (msal/utils.ts handleMsalError): the MSAL error
    // is its cause, with the token endpoint's `error` as errorCode (a ServerError) or MSAL's own
    // code for a failure without an answer (network_error, …), which a later attempt may not meet.
    const cause = field(err, 'cause');
    const error = stringField(cause, 'errorCode') ?? 'authentication_failed';
    const status = numberField(cause, 'status');
    return new AzureCallFailure(error, status, message, BAD_CLIENT.has(error) ? 'final' : 'transient', 'token');
  }
  if (name === 'AbortError') return new AzureCallFailure('AbortError', undefined, message, 'transient');
  const status = numberField(err, 'statusCode');
  if (name !== 'RestError' && status === undefined) {
    const code = stringField(err, 'code');
    if (code && TRANSPORT.has(code)) return new AzureCallFailure(code, undefined, message, 'transient');
    return new AzureCallFailure(name, undefined, message, 'local');
  }
  if (status === undefined) {
    const code = stringField(err, 'code') ?? name;
    return new AzureCallFailure(code, undefined, message, 'transient');
  }
  const body = errorBody(err);
  const code = body.code ?? stringField(err, 'code') ?? String(status);
  const retryAfterMs = retryAfter(err);
  const detail = shorten(body.message ?? message);
  if (status === 429) return new AzureCallFailure(code, status, detail, 'throttled', body.inner, retryAfterMs);
  if (status >= 500 || status === 408) {
    return new AzureCallFailure(code, status, detail, status === 501 ? 'final' : 'transient', body.inner, retryAfterMs);
  }
  return new AzureCallFailure(code, status, detail, 'final', body.inner);
}

/** The generic meaning of a failure; `what` names the operation and key for the message. */
export function toKmsError(f: AzureCallFailure | KmsError, what: string): KmsError {
  if (f instanceof KmsError) return f;
  switch (f.kind) {
    case 'throttled':
      return new BackendThrottledError(`${what}: Key Vault is throttling requests (429 ${f.code})`, { cause: f });
    case 'transient':
      if (f.inner === 'token') {
        return new BackendUnavailableError(`${what}: no token from Microsoft Entra ID (${f.code}: ${f.detail})`, {
          cause: f,
        });
      }
      return f.status === undefined
        ? new BackendUnavailableError(`${what}: ${unreachable(f)}`, { cause: f })
        : new BackendUnavailableError(`${what}: Key Vault is not serving (${f.status} ${f.code})`, { cause: f });
    case 'local':
      return new BackendMisconfiguredError(`${what}: the Azure SDK refused the request (${f.detail})`, { cause: f });
    case 'final':
      break;
  }
  if (f.inner === 'token') {
    return new BackendMisconfiguredError(
      `${what}: Microsoft Entra ID refused kleidi's credential (${f.code}: ${f.detail}); check azure.tenantId, ` +
        'azure.clientId and the secret, certificate or federated credential',
      { cause: f },
    );
  }
  if (f.status === 401) {
    return new BackendMisconfiguredError(
      `${what}: Key Vault refused the token (401 ${f.code}); the identity is in another tenant than the vault, ` +
        'or the token is for another cloud (check azure.cloud)',
      { cause: f },
    );
  }
  if (f.status === 403) {
    return new BackendMisconfiguredError(
      `${what}: forbidden (${f.inner ?? f.code}); grant kleidi's identity "Key Vault Crypto User" on the key ` +
        '(or "Key Vault Crypto Officer" for kleidi init, rotate and retire), or the matching access policy or Managed HSM role',
      { cause: f },
    );
  }
  if (f.status === 404) {
    return new BackendMisconfiguredError(`${what}: not found in the vault (${f.code}: ${f.detail})`, { cause: f });
  }
  return new BackendMisconfiguredError(`${what}: Key Vault refused the request (${f.status} ${f.code}: ${f.detail})`, {
    cause: f,
  });
}

/** Node's socket errors: the request did not get an answer. */
const TRANSPORT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'REQUEST_SEND_ERROR',
]);

function unreachable(f: AzureCallFailure): string {
  if (f.code === 'TimeoutError' || f.code === 'AbortError') return 'Key Vault did not answer in time';
  if (f.code === 'CredentialUnavailableError') return `no Azure credential is available yet (${f.detail})`;
  return `Key Vault unreachable (${f.code})`;
}

/** The documented error body: {"error":{"code","message","innererror":{"code"}}} (KeyVaultError). */
function errorBody(err: unknown): { code?: string; message?: string; inner?: string } {
  const details = field(err, 'details');
  const fromDetails = field(details, 'error');
  let e = fromDetails;
  if (!e) {
    const text = stringField(field(err, 'response'), 'bodyAsText');
    if (text) {
      try {
        e = field(JSON.parse(text) as unknown, 'error');
      } catch {
        e = undefined;
      }
    }
  }
  const code = stringField(e, 'code');
  const message = stringField(e, 'message');
  const inner = stringField(field(e, 'innererror') ?? field(e, 'innerError'), 'code');
  return { ...(code ? { code } : {}), ...(message ? { message } : {}), ...(inner ? { inner } : {}) };
}

/** Retry-After in seconds or as an HTTP date (RFC 9110 section 10.2.3), in ms. */
function retryAfter(err: unknown): number | undefined {
  const headers = field(field(err, 'response'), 'headers') as { get?: (n: string) => string | undefined } | undefined;
  const v = typeof headers?.get === 'function' ? headers.get('retry-after') : undefined;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
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

function numberField(value: unknown, key: string): number | undefined {
  const v = field(value, key);
  return typeof v === 'number' ? v : undefined;
}
