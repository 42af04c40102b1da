import { describe, expect, it } from 'vitest';
import { classifyFailure, GcpCallFailure, Status, toKmsError } from '#src/adapters/outbound/gcp/gcp-kms.errors.js';
import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  CancelledError,
} from '#src/domain/model/errors.js';

/** An error shaped like google-gax's GoogleError for a gRPC status. */
function grpcError(code: number, details = 'detail', extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, ...extra });
}

const classOf = (err: unknown) => {
  const f = classifyFailure(err);
  return f instanceof GcpCallFailure ? f.kind : f.constructor.name;
};

describe('gcp error classification', () => {
  it('retries UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, ABORTED and errors without a status', () => {
    for (const code of [Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.INTERNAL, Status.ABORTED]) {
      expect(classOf(grpcError(code))).toBe('transient');
    }
    expect(classOf(new Error('socket hang up'))).toBe('transient');
  });

  it('treats RESOURCE_EXHAUSTED as throttling', () => {
    expect(classOf(grpcError(Status.RESOURCE_EXHAUSTED))).toBe('throttled');
    expect(
      toKmsError(classifyFailure(grpcError(Status.RESOURCE_EXHAUSTED)) as GcpCallFailure, 'Encrypt'),
    ).toBeInstanceOf(BackendThrottledError);
  });

  it('gives each final code an actionable message, never from the message text', () => {
    const e = (code: number) => toKmsError(classifyFailure(grpcError(code)) as GcpCallFailure, 'Encrypt with k');
    expect(e(Status.PERMISSION_DENIED)).toBeInstanceOf(BackendMisconfiguredError);
    expect(e(Status.PERMISSION_DENIED).message).toMatch(/roles\/cloudkms\.cryptoKeyEncrypterDecrypter/);
    expect(e(Status.UNAUTHENTICATED).message).toMatch(/credentials/);
    expect(e(Status.NOT_FOUND).message).toMatch(/not found/);
    expect(e(Status.UNAVAILABLE)).toBeInstanceOf(BackendUnavailableError);
    // The same message with another code means something else.
    expect(classOf(grpcError(Status.INVALID_ARGUMENT, 'UNAVAILABLE'))).toBe('final');
  });

  it('recognises Cloud KMS refusing the request CRC32C by the BadRequest field, and retries it', () => {
    const refused = grpcError(Status.INVALID_ARGUMENT, 'checksum mismatch', {
      statusDetails: [{ fieldViolations: [{ field: 'plaintext_crc32c', description: 'mismatch' }] }],
    });
    const f = classifyFailure(refused) as GcpCallFailure;
    expect(f.kind).toBe('transient');
    expect(f.requestChecksumRefused).toBe(true);
    expect(toKmsError(f, 'Encrypt').message).toMatch(/refused the request's CRC32C \(plaintext_crc32c\)/);
    // Any other INVALID_ARGUMENT stays final.
    const other = classifyFailure(
      grpcError(Status.INVALID_ARGUMENT, 'x', { statusDetails: [{ fieldViolations: [{ field: 'plaintext' }] }] }),
    ) as GcpCallFailure;
    expect(other.kind).toBe('final');
    expect(other.requestChecksumRefused).toBe(false);
  });

  it('reads a numeric code above 16 as the token endpoint HTTP status of a failed credentials plugin', () => {
    const refused = classifyFailure(grpcError(400, 'Getting metadata from plugin failed')) as GcpCallFailure;
    expect(refused.kind).toBe('final');
    expect(refused.tokenEndpointStatus).toBe(400);
    expect(toKmsError(refused, 'GetCryptoKey').message).toMatch(/no access token: the token endpoint refused/);
    expect(classOf(grpcError(503))).toBe('transient');
    expect(classOf(grpcError(429))).toBe('transient');
    expect((classifyFailure(grpcError(Status.UNAUTHENTICATED)) as GcpCallFailure).tokenEndpointStatus).toBeUndefined();
  });

  it('passes KmsErrors through', () => {
    const e = new CancelledError('gone');
    expect(classifyFailure(e)).toBe(e);
  });
});
