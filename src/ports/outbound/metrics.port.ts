import type { KmsErrorKind } from '../../domain/model/errors.js';
import type { KeyId } from '../../domain/model/key-id.js';

/**
 * The three KMSv2 RPCs (service KeyManagementService in
 * https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/kms/apis/v2/api.proto).
 */
export type KmsMethod = 'Status' | 'Encrypt' | 'Decrypt';

/** The KeyWrapper operations that reach a backend. */
export type BackendOp = 'currentVersion' | 'wrap' | 'unwrap';

/**
 * How a backend operation ended: `ok`, the KmsError kind, or `internal` for
 * anything that is not a KmsError (a bug). A closed set, so it is safe as a
 * metric label; an error *message* never is (unbounded label values:
 * https://prometheus.io/docs/practices/naming/#labels).
 */
export type BackendOutcome = 'ok' | KmsErrorKind | 'internal';

/**
 * Records kleidi's operational metrics. Every label value passed in comes
 * from a small closed set (method, gRPC code name, op, outcome, backend
 * name) or is the public key_id, which changes only on rotation.
 *
 * Implementations must never throw: a metrics failure must not fail a KMS call.
 */
export interface Metrics {
  /** One finished KMSv2 call; `code` is the canonical gRPC code name, e.g. "OK", "INVALID_ARGUMENT". */
  observeRequest(method: KmsMethod, code: string, seconds: number): void;
  /**
   * Starts timing one backend operation. The returned function is called
   * exactly once, with the outcome, when the operation settles.
   */
  startBackendOp(backend: string, op: BackendOp): (outcome: BackendOutcome) => void;
  /** The result of a background health probe, and when it last succeeded (ms since the epoch). */
  setBackendHealth(backend: string, healthy: boolean, lastSuccessAt: number | undefined): void;
  /** The key_id Status and Encrypt currently report; replaces the previous one. */
  setCurrentKey(backend: string, keyId: KeyId): void;
  /** A key_id change seen by the background refresh (a KEK rotation). */
  countRotation(backend: string): void;
  /**
   * Registers a reader for when the backend's credential expires (ms since the
   * epoch, or undefined when it never does or none is held), e.g. a Vault
   * token. It is read when metrics are collected, so it is always current.
   */
  watchCredentialExpiry(backend: string, read: () => number | undefined): void;
  /**
   * Registers a reader for the requests a backend adapter sent to its service
   * (counts since start), for an adapter that retries requests itself. Read
   * when metrics are collected, so retries and throttling that a call absorbed
   * show up although the call itself succeeded.
   */
  watchBackendRequests(backend: string, read: () => BackendRequestCounts): void;
}

/** Requests a backend adapter sent to its service since it started. Monotonic counts. */
export interface BackendRequestCounts {
  /** Every request sent, retries included. */
  readonly attempts: number;
  /** Requests sent again after a failed attempt. */
  readonly retries: number;
  /** Attempts the service refused because of its request rate (throttling), retried or not. */
  readonly throttled: number;
}

/**
 * Optionally implemented by a KeyWrapper whose adapter retries backend
 * requests itself (AWS KMS): the composition root feeds it to
 * `watchBackendRequests`.
 */
export interface BackendRequestStats {
  backendRequestCounts(): BackendRequestCounts;
}

/**
 * Optionally implemented by a KeyWrapper whose backend credential expires
 * (a Vault token): the composition root feeds it to `watchCredentialExpiry`.
 */
export interface CredentialExpiry {
  /** When the credential now held expires, in ms since the epoch; undefined if never or none is held. */
  credentialExpiresAt(): number | undefined;
}
