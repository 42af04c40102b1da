import type { KeyVersion, WrappedKey } from '../../../domain/model/key-version.js';
import type { KeyWrapper } from '../../../ports/outbound/key-wrapper.port.js';
import type {
  BackendRequestCounts,
  BackendRequestStats,
  CredentialExpiry,
} from '../../../ports/outbound/metrics.port.js';
import type { DelineaApi } from './delinea.api.js';

/** What each mode implements: the KeyWrapper operations (kek-source or remote). */
export type ModeWrapper = Pick<KeyWrapper, 'currentVersion' | 'wrap' | 'unwrap'>;

/**
 * The delinea backend's KeyWrapper: one mode behind it (delinea.kek-source.key-wrapper.ts or
 * delinea.remote.key-wrapper.ts), the request counts and token expiry of its API client for the
 * metrics, and the one close.
 */
export class DelineaKeyWrapper implements KeyWrapper, BackendRequestStats, CredentialExpiry {
  readonly backend = 'delinea';

  constructor(
    private readonly mode: ModeWrapper & { close?(): void },
    private readonly api: DelineaApi,
  ) {}

  currentVersion(signal: AbortSignal): Promise<KeyVersion> {
    return this.mode.currentVersion(signal);
  }

  wrap(seed: Uint8Array, version: KeyVersion, signal: AbortSignal): Promise<WrappedKey> {
    return this.mode.wrap(seed, version, signal);
  }

  unwrap(wrapped: WrappedKey, signal: AbortSignal): Promise<Uint8Array> {
    return this.mode.unwrap(wrapped, signal);
  }

  backendRequestCounts(): BackendRequestCounts {
    return this.api.requestCounts();
  }

  credentialExpiresAt(): number | undefined {
    return this.api.tokens.expiresAt();
  }

  close(): Promise<void> {
    this.mode.close?.();
    this.api.close();
    return Promise.resolve();
  }
}
