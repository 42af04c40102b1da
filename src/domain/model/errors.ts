/**
 * The typed error taxonomy of kleidi. Every failure that crosses a port is a
 * KmsError; the inbound edge maps `kind` to a gRPC code exactly once
 * (adapters/inbound/grpc/error-mapping.ts). Messages are returned to
 * kube-apiserver, so they must never contain plaintext, key material or
 * credentials.
 */
export type KmsErrorKind =
  | 'invalid-request'
  | 'malformed-ciphertext'
  | 'key-version-unknown'
  | 'key-unusable'
  | 'backend-misconfigured'
  | 'backend-unavailable'
  | 'backend-throttled'
  | 'deadline-exceeded'
  | 'cancelled'
  | 'unsupported';

export abstract class KmsError extends Error {
  abstract readonly kind: KmsErrorKind;
  /** Whether the same call may succeed later without operator action. */
  readonly retryable: boolean = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input the caller sent is invalid (sizes, key_id, annotations). */
export class InvalidRequestError extends KmsError {
  readonly kind = 'invalid-request';
}

/** Ciphertext is truncated, tampered, of an unknown format, or does not match its key_id/annotations. */
export class MalformedCiphertextError extends KmsError {
  readonly kind = 'malformed-ciphertext';
}

/** The ciphertext names a key-encryption key this plugin does not hold. */
export class KeyVersionUnknownError extends KmsError {
  readonly kind = 'key-version-unknown';
}

/** The key exists but may not be used (disabled, destroyed, below a minimum version). */
export class KeyUnusableError extends KmsError {
  readonly kind = 'key-unusable';
}

/** The backend refuses us for a reason only an operator can fix (permissions, PIN, file mode). */
export class BackendMisconfiguredError extends KmsError {
  readonly kind = 'backend-misconfigured';
}

/** The backend cannot be reached or is not serving right now. */
export class BackendUnavailableError extends KmsError {
  readonly kind = 'backend-unavailable';
  override readonly retryable = true;
}

/** The backend asks us to slow down. */
export class BackendThrottledError extends KmsError {
  readonly kind = 'backend-throttled';
  override readonly retryable = true;
}

/** The caller's deadline passed before the backend answered. */
export class DeadlineExceededError extends KmsError {
  readonly kind = 'deadline-exceeded';
  override readonly retryable = true;
}

/** The caller went away. */
export class CancelledError extends KmsError {
  readonly kind = 'cancelled';
}

/** The backend cannot do what an admin command asked (staging on a server-held key, for one). */
export class OperationUnsupportedError extends KmsError {
  readonly kind = 'unsupported';
}

/** Errors after which writes must stop until an operator acts (kubernetes#138950). */
export function stopsWrites(err: KmsError): boolean {
  return err.kind === 'backend-misconfigured' || err.kind === 'key-unusable';
}
