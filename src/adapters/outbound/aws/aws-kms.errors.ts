import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  KmsError,
} from '../../../domain/model/errors.js';

/**
 * What a failed attempt means for the next one:
 * - `throttled`: KMS asks us to slow down; retry after a longer pause;
 * - `transient`: no answer, a 5xx or a KMS-internal fault; retry;
 * - `credentials`: the signature or session was refused (expired, revoked,
 *   clock skew); retry once with freshly fetched credentials;
 * - `final`: KMS answered and another identical request would get the same answer.
 */
export type FailureClass = 'throttled' | 'transient' | 'credentials' | 'final';

/**
 * One failed KMS request, before it is given a domain meaning. Only the
 * adapter sees it; callers translate it with `toKmsError` or a more specific
 * rule (Decrypt's InvalidCiphertextException). SECURITY: the SDK's error is
 * not kept as `cause`; only its name, status and a shortened message, which
 * KMS never fills with credentials or plaintext.
 */
export class AwsCallFailure extends Error {
  constructor(
    /** The KMS exception name (`ThrottlingException`), or a transport error code. */
    readonly code: string,
    /** The HTTP status, or undefined when no response arrived. */
    readonly status: number | undefined,
    readonly detail: string,
    readonly kind: FailureClass,
  ) {
    super(status === undefined ? `KMS unreachable: ${code}` : `KMS answered ${status} ${code}: ${detail}`);
    this.name = 'AwsCallFailure';
  }
}

const MAX_DETAIL = 160;

/**
 * Exception names the SDK's standard retry strategy treats as throttling
 * (@smithy/service-error-classification THROTTLING_ERROR_CODES); KMS itself
 * answers ThrottlingException
 * (https://docs.aws.amazon.com/kms/latest/developerguide/throttling.html).
 */
const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
]);

/** KMS faults that the same request may not meet again (API error lists of Encrypt, Decrypt, DescribeKey). */
const TRANSIENT = new Set([
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'InternalFailure',
  'InternalFailureException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);

/**
 * Refusals of the request's signature or session
 * (https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html):
 * new credentials (or the SDK's clock-skew correction) may fix them.
 */
const CREDENTIALS = new Set([
  'ExpiredTokenException',
  'ExpiredToken',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'RequestExpired',
  'RequestTimeTooSkewed',
]);

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
  'UND_ERR_SOCKET',
]);

/** Turns whatever the SDK rejected with into an AwsCallFailure; KmsErrors pass through. */
export function classifyFailure(err: unknown): AwsCallFailure | KmsError {
  if (err instanceof KmsError || err instanceof AwsCallFailure) return err;
  const name = stringField(err, 'name') ?? 'Error';
  const status = numberField(field(err, '$metadata'), 'httpStatusCode');
  const detail = shorten(stringField(err, 'message') ?? name);
  if (name === 'CredentialsProviderError' || name === 'TokenProviderError') {
    // No credentials could be obtained: IMDS or STS may be slow at boot, so this is retried by
    // the refresh, and the message (which names the chain's sources, never a secret) is shown.
    return new AwsCallFailure(name, undefined, detail, 'transient');
  }
  if (status === undefined) {
    const code = stringField(err, 'code') ?? name;
    const noAnswer = TRANSPORT.has(code) || name === 'TimeoutError' || name === 'AbortError';
    return new AwsCallFailure(code, undefined, detail, noAnswer ? 'transient' : 'final');
  }
  const retryable = field(err, '$retryable');
  if (THROTTLING.has(name) || status === 429 || field(retryable, 'throttling') === true) {
    return new AwsCallFailure(name, status, detail, 'throttled');
  }
  if (CREDENTIALS.has(name)) return new AwsCallFailure(name, status, detail, 'credentials');
  if (TRANSIENT.has(name) || status >= 500) {
    // 501 is not transient: the endpoint does not implement the operation (e.g. a test server).
    return new AwsCallFailure(name, status, detail, status === 501 ? 'final' : 'transient');
  }
  return new AwsCallFailure(name, status, detail, 'final');
}

/**
 * The generic meaning of a failure; `what` names the operation and key for
 * the message, which reaches kube-apiserver and the health reason.
 */
export function toKmsError(f: AwsCallFailure | KmsError, what: string): KmsError {
  if (f instanceof KmsError) return f;
  switch (f.kind) {
    case 'throttled':
      return new BackendThrottledError(`${what}: AWS KMS is throttling requests (${f.code})`, { cause: f });
    case 'transient':
      return f.status === undefined
        ? new BackendUnavailableError(`${what}: ${unreachable(f)}`, { cause: f })
        : new BackendUnavailableError(`${what}: AWS KMS is not serving (${f.status} ${f.code})`, { cause: f });
    case 'credentials':
      return new BackendMisconfiguredError(
        `${what}: AWS refused kleidi's credentials even after fetching new ones (${f.code}: ${f.detail}); ` +
          'check the credential source and the clock',
        { cause: f },
      );
    case 'final':
      break;
  }
  if (f.code === 'AccessDeniedException') {
    return new BackendMisconfiguredError(
      `${what}: access denied; the IAM or key policy of kleidi's role lacks this action on the key, ` +
        `or its encryption-context condition does not match (${f.detail})`,
      { cause: f },
    );
  }
  if (f.code === 'NotFoundException' || f.code === 'InvalidArnException') {
    return new BackendMisconfiguredError(`${what}: not found in AWS KMS (${f.detail})`, { cause: f });
  }
  if (f.status === 501) {
    return new BackendMisconfiguredError(`${what}: the KMS endpoint does not implement this operation`, { cause: f });
  }
  return new BackendMisconfiguredError(`${what}: AWS KMS refused the request (${f.code}: ${f.detail})`, {
    cause: f,
  });
}

function unreachable(f: AwsCallFailure): string {
  if (f.code === 'CredentialsProviderError' || f.code === 'TokenProviderError') {
    return `no AWS credentials could be obtained (${f.detail})`;
  }
  if (f.code === 'TimeoutError' || f.code === 'AbortError') return 'AWS KMS did not answer in time';
  return `AWS KMS unreachable (${f.code})`;
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
