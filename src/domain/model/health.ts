import type { KeyId } from './key-id.js';

/** The KMSv2 API version kleidi speaks; the apiserver accepts "v2" (or "v2beta1"). */
export const KMS_API_VERSION = 'v2';

/** The apiserver fails its kms-providers check for any healthz other than this. */
export const HEALTHZ_OK = 'ok';

/** What Status reports: served from cached state, never a backend round trip. */
export interface StatusReport {
  readonly version: typeof KMS_API_VERSION;
  readonly healthz: string;
  readonly keyId: KeyId;
}

/** The result of the last background refresh of key state and backend health. */
export interface BackendHealth {
  readonly healthy: boolean;
  /** Short, secret-free reason when unhealthy. */
  readonly reason?: string;
  /** Milliseconds since the epoch of the last successful probe, if any. */
  readonly lastSuccessAt?: number;
  readonly checkedAt?: number;
}
