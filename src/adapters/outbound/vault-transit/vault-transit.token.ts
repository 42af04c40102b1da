import type { VaultToken } from './vault-transit.responses.js';

/** What health details show about the token; never the token itself. */
export interface VaultTokenState {
  readonly method: string;
  /** ISO time the token expires; absent when it never does or no token is held. */
  readonly tokenExpiresAt?: string;
  readonly renewable?: boolean;
  readonly logins: number;
  readonly renewals: number;
  readonly lastError?: string;
}

export interface RenewerOptions {
  /** Renew when this fraction of the TTL has passed (2/3, as Vault's own LifetimeWatcher does). */
  readonly renewFraction: number;
  /** First pause between logins; doubles per consecutive problem up to `maxBackoffMs`. */
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
}

export interface HeldToken {
  readonly token: VaultToken;
  /** An authenticated call succeeded with it: a later 403 means revoked or expired, not a policy gap. */
  proven: boolean;
  /** The TTL at login; renewals returning much less mean the max TTL is near. */
  readonly firstTtl: number;
  /** On the Clock's monotonic time; undefined when the token never expires. */
  readonly expiresAt: number | undefined;
}

/** When a token obtained at monotonic time `now` expires; undefined when its TTL is 0 (it never does). */
export function expiry(now: number, t: VaultToken): number | undefined {
  return t.ttlSeconds > 0 ? now + t.ttlSeconds * 1_000 : undefined;
}
