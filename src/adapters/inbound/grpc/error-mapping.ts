import { randomUUID } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
import { KmsError, type KmsErrorKind } from '../../../domain/model/errors.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';

/**
 * The one place where domain errors become gRPC status codes (the table in
 * docs/architecture.md; the codes: https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
 * Connect's Code enum uses the gRPC status numbers, so
 * the grpc-js host passes `code` through unchanged. Adding a kind without a
 * code fails to compile.
 */
export const CODE_BY_KIND = {
  'invalid-request': Code.InvalidArgument,
  'malformed-ciphertext': Code.InvalidArgument,
  'key-version-unknown': Code.NotFound,
  'key-unusable': Code.FailedPrecondition,
  'backend-misconfigured': Code.FailedPrecondition,
  'backend-unavailable': Code.Unavailable,
  'backend-throttled': Code.ResourceExhausted,
  'deadline-exceeded': Code.DeadlineExceeded,
  cancelled: Code.Canceled,
  // Admin commands only: a KMSv2 call never asks for an unsupported operation.
  unsupported: Code.Unimplemented,
} as const satisfies Record<KmsErrorKind, Code>;

/**
 * Maps any thrown value to a ConnectError. KmsError messages are written to
 * be safe for the apiserver; anything else is a bug, answered as INTERNAL
 * with a reference that is also logged with the full error.
 */
export function toRpcError(err: unknown, log: Logger): ConnectError {
  if (err instanceof KmsError) {
    return new ConnectError(err.message, CODE_BY_KIND[err.kind]);
  }
  if (err instanceof ConnectError) return err;
  const ref = randomUUID();
  log.error({ err, ref }, 'unexpected error');
  return new ConnectError(`internal error (ref ${ref})`, Code.Internal);
}
