import { describe, expect, it } from 'vitest';
import { AwsCallFailure, classifyFailure, toKmsError } from '#src/adapters/outbound/aws/aws-kms.errors.js';
import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  CancelledError,
} from '#src/domain/model/errors.js';

/** An error shaped like the SDK's ServiceException for a KMS answer. */
function kmsAnswer(name: string, status: number, message = 'detail', extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status }, ...extra });
}

/** An error shaped like a Node socket error (no answer at all). */
function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:443`), { code });
}

const classOf = (err: unknown) => {
  const f = classifyFailure(err);
  if (!(f instanceof AwsCallFailure)) throw new Error('expected an AwsCallFailure');
  return f.kind;
};

describe('aws: classifying SDK failures', () => {
  it.each([
    ['ThrottlingException', 400],
    ['TooManyRequestsException', 400],
    ['SomethingNew', 429],
  ])('%s %d is throttling', (name, status) => {
    expect(classOf(kmsAnswer(name, status))).toBe('throttled');
  });

  it('the SDK marking an error as throttling is throttling', () => {
    expect(classOf(kmsAnswer('Whatever', 400, 'x', { $retryable: { throttling: true } }))).toBe('throttled');
  });

  it.each([
    ['KMSInternalException', 500],
    ['DependencyTimeoutException', 503],
    ['KeyUnavailableException', 500],
    ['ServiceUnavailable', 503],
    ['SomeGateway', 502],
  ])('%s %d is transient', (name, status) => {
    expect(classOf(kmsAnswer(name, status))).toBe('transient');
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND'])(
    'socket error %s is transient',
    (c) => {
      expect(classOf(socketError(c))).toBe('transient');
    },
  );

  it('a missing credential source is transient (IMDS or STS may come up later)', () => {
    const e = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    expect(classOf(e)).toBe('transient');
    expect(toKmsError(classifyFailure(e), 'Encrypt')).toBeInstanceOf(BackendUnavailableError);
    expect(toKmsError(classifyFailure(e), 'Encrypt').message).toBe(
      'Encrypt: no AWS credentials could be obtained (Could not load credentials from any providers)',
    );
  });

  it.each(['ExpiredTokenException', 'UnrecognizedClientException', 'InvalidSignatureException', 'RequestExpired'])(
    '%s asks for fresh credentials',
    (name) => {
      expect(classOf(kmsAnswer(name, 400))).toBe('credentials');
    },
  );

  it.each([
    ['AccessDeniedException', 400],
    ['InvalidCiphertextException', 400],
    ['NotFoundException', 400],
    ['DisabledException', 400],
    ['KMSInvalidStateException', 400],
    ['NotImplemented', 501],
  ])('%s %d is final', (name, status) => {
    expect(classOf(kmsAnswer(name, status))).toBe('final');
  });

  it('KmsErrors pass through untouched', () => {
    const e = new CancelledError('gone');
    expect(classifyFailure(e)).toBe(e);
    expect(toKmsError(e, 'x')).toBe(e);
  });

  it('keeps a short one-line message and never the SDK error itself', () => {
    const sdk = kmsAnswer('AccessDeniedException', 400, `User: arn:aws:sts::1:assumed-role/x\n${'y'.repeat(400)}`, {
      $response: { body: 'raw' },
    });
    const f = classifyFailure(sdk) as AwsCallFailure;
    expect(f.detail.length).toBeLessThanOrEqual(161);
    expect(f.detail).not.toContain('\n');
    const e = toKmsError(f, 'Decrypt');
    expect(e.cause).toBe(f);
    expect(JSON.stringify(e.cause)).not.toContain('raw');
  });
});

describe('aws: mapping failures to the domain errors', () => {
  const map = (err: unknown) => toKmsError(classifyFailure(err), 'Encrypt with arn:k');

  it('throttling → BackendThrottledError (retryable)', () => {
    const e = map(kmsAnswer('ThrottlingException', 400));
    expect(e).toBeInstanceOf(BackendThrottledError);
    expect(e.retryable).toBe(true);
    expect(e.message).toBe('Encrypt with arn:k: AWS KMS is throttling requests (ThrottlingException)');
  });

  it('no answer and 5xx → BackendUnavailableError', () => {
    expect(map(socketError('ECONNREFUSED')).message).toBe('Encrypt with arn:k: AWS KMS unreachable (ECONNREFUSED)');
    expect(map(kmsAnswer('KMSInternalException', 500)).message).toBe(
      'Encrypt with arn:k: AWS KMS is not serving (500 KMSInternalException)',
    );
  });

  it('access denied → BackendMisconfiguredError naming the policy and the context condition', () => {
    const e = map(kmsAnswer('AccessDeniedException', 400, 'not authorized'));
    expect(e).toBeInstanceOf(BackendMisconfiguredError);
    expect(e.message).toContain("the IAM or key policy of kleidi's role lacks this action");
    expect(e.message).toContain('encryption-context condition');
  });

  it('credentials refused after a fresh fetch → BackendMisconfiguredError naming the source and clock', () => {
    const e = map(kmsAnswer('ExpiredTokenException', 400, 'The security token included in the request is expired'));
    expect(e).toBeInstanceOf(BackendMisconfiguredError);
    expect(e.message).toContain('check the credential source and the clock');
  });

  it('an operation the endpoint lacks (501) and other refusals → BackendMisconfiguredError', () => {
    expect(map(kmsAnswer('UnknownOperationException', 501)).message).toContain('does not implement this operation');
    expect(map(kmsAnswer('ValidationException', 400, 'bad')).message).toBe(
      'Encrypt with arn:k: AWS KMS refused the request (ValidationException: bad)',
    );
  });
});
