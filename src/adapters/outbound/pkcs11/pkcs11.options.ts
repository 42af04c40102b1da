import type { TokenCalls } from './pkcs11.gcm.js';
import type { KeyPolicy } from './pkcs11.keys.js';
import type { PinSource } from './pkcs11.pin.js';

/** Which token to use: by label, by serial number, or by slot ID (as `softhsm2-util --show-slots` prints it). */
export type TokenSelector =
  | { readonly by: 'label'; readonly label: string }
  | { readonly by: 'serial'; readonly serial: string }
  | { readonly by: 'slot'; readonly slot: number };

/** Everything the PKCS#11 adapter needs; built from validated config by the composition root. */
export interface Pkcs11Options {
  /** Path of the PKCS#11 module (shared library). */
  readonly module: string;
  readonly token: TokenSelector;
  readonly pin: PinSource;
  /** CKA_LABEL shared by every KEK version; the version lives in CKA_ID (docs/adr/0004). */
  readonly keyLabel: string;
  /** Use this version for new wraps instead of the highest one. */
  readonly keyVersion?: number;
  /** SECURITY: use keys whose value can leave the token (not CKA_SENSITIVE, or CKA_EXTRACTABLE); default false. */
  readonly allowExtractableKeysInsecure?: boolean;
  /** SECURITY: use keys whose value once could leave the token (imported keys); default false. */
  readonly allowPreviouslyExposedKeys?: boolean;
  /**
   * Crypto sessions, each with at most one operation in flight: a session
   * holds one active operation (v2.30 §6.7; C_EncryptInit answers
   * CKR_OPERATION_ACTIVE otherwise, base v2.40 §5.8). Beyond libuv's
   * UV_THREADPOOL_SIZE (default 4) extra sessions only queue.
   */
  readonly sessionPoolSize: number;
  /**
   * Where C_Encrypt/C_Decrypt run: `thread-pool` (default) keeps the token's
   * answer off the event loop, as a network HSM needs; `event-loop` runs them
   * inline, for local tokens only (docs/adr/0024).
   */
  readonly tokenCalls: TokenCalls;
  /** Budget for one wrap/unwrap/version read, including waiting for a session. */
  readonly callTimeoutMs: number;
  /** Delay before the second reconnect attempt; it doubles up to `reconnectMaxMs`. */
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
}

export const PKCS11_DEFAULTS = {
  module: '/usr/lib/softhsm/libsofthsm2.so', // Debian/Ubuntu softhsm2 package
  keyLabel: 'kleidi-kek',
  sessionPoolSize: 4,
  tokenCalls: 'thread-pool',
  // Below kube-apiserver's default 3 s KMS call timeout, so we answer before it gives up.
  callTimeoutMs: 2_000,
  reconnectMinMs: 500,
  // Short enough that a token back after an outage is in use again within a few seconds
  // (the reliability campaign requires 5 s; the health probe retries every second meanwhile).
  reconnectMaxMs: 3_000,
} as const;

/** A short, secret-free description of the selected token for messages. */
export function describeToken(t: TokenSelector): string {
  switch (t.by) {
    case 'label':
      return `token labelled '${t.label}'`;
    case 'serial':
      return `token with serial '${t.serial}'`;
    case 'slot':
      return `token in slot ${t.slot}`;
  }
}

/** Which keys found on the token are used; both risks are refused unless a setting accepts them. */
export function keyPolicy(o: Pkcs11Options): KeyPolicy {
  return {
    allowExtractableKeysInsecure: o.allowExtractableKeysInsecure === true,
    allowPreviouslyExposedKeys: o.allowPreviouslyExposedKeys === true,
  };
}
