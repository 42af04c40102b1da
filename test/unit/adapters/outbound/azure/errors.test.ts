import { describe, expect, it } from 'vitest';
import { AzureCallFailure, classifyFailure, toKmsError } from '#src/adapters/outbound/azure/azure.errors.js';
import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  CancelledError,
} from '#src/domain/model/errors.js';

/** The fields of a RestError as @azure/core-rest-pipeline builds it from a Key Vault answer. */
function rest(status: number, body: unknown, headers: Record<string, string> = {}) {
  const h = new Map(Object.entries(headers));
  return Object.assign(new Error('Key Vault said no'), {
    name: 'RestError',
    statusCode: status,
    response: { status, headers: { get: (n: string) => h.get(n.toLowerCase()) }, bodyAsText: JSON.stringify(body) },
  });
}

const failure = (err: unknown) => {
  const f = classifyFailure(err);
  if (!(f instanceof AzureCallFailure)) throw new Error('not a failure');
  return f;
};

describe('azure error classification (status and code fields, never message text)', () => {
  it('429 is throttling, with Retry-After in seconds', () => {
    const f = failure(rest(429, { error: { code: 'Throttled', message: 'x' } }, { 'retry-after': '3' }));
    expect(f).toMatchObject({ kind: 'throttled', code: 'Throttled', status: 429, retryAfterMs: 3000 });
    expect(toKmsError(f, 'wrap')).toBeInstanceOf(BackendThrottledError);
  });

  it('403 keeps the inner code, and names the roles', () => {
    const f = failure(
      rest(403, { error: { code: 'Forbidden', message: 'x', innererror: { code: 'ForbiddenByRbac' } } }),
    );
    expect(f).toMatchObject({ kind: 'final', code: 'Forbidden', inner: 'ForbiddenByRbac' });
    const e = toKmsError(f, 'wrap');
    expect(e).toBeInstanceOf(BackendMisconfiguredError);
    expect(e.message).toMatch(/Key Vault Crypto User.*Key Vault Crypto Officer/);
  });

  it('401 and 404 are misconfigurations with their own reasons; 5xx and no answer are transient', () => {
    expect(toKmsError(failure(rest(401, { error: { code: 'Unauthorized', message: 'x' } })), 'get').message).toMatch(
      /another tenant.*azure.cloud/,
    );
    expect(failure(rest(404, { error: { code: 'KeyNotFound', message: 'x' } }))).toMatchObject({ code: 'KeyNotFound' });
    expect(failure(rest(503, { error: { code: 'ServiceUnavailable', message: 'x' } })).kind).toBe('transient');
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(toKmsError(failure(refused), 'get')).toBeInstanceOf(BackendUnavailableError);
  });

  it("Entra ID's refusals: a bad client is final, a network failure transient", () => {
    const bad = Object.assign(new Error('x'), {
      name: 'AuthenticationRequiredError',
      cause: { errorCode: 'invalid_client', status: 401 },
    });
    expect(failure(bad)).toMatchObject({ kind: 'final', inner: 'token', code: 'invalid_client' });
    expect(toKmsError(failure(bad), 'get').message).toMatch(/Entra ID refused kleidi's credential/);
    const net = Object.assign(new Error('x'), {
      name: 'AuthenticationRequiredError',
      cause: { errorCode: 'network_error' },
    });
    expect(failure(net).kind).toBe('transient');
    expect(failure(Object.assign(new Error('x'), { name: 'CredentialUnavailableError' })).kind).toBe('transient');
  });

  it('passes KmsErrors through, and marks an SDK refusal before sending as local', () => {
    const c = new CancelledError('gone');
    expect(classifyFailure(c)).toBe(c);
    expect(failure(new Error('Key expired')).kind).toBe('local');
  });
});
