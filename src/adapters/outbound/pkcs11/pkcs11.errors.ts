import pkcs11js from 'pkcs11js';
import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  KeyUnusableError,
  KmsError,
  MalformedCiphertextError,
} from '../../../domain/model/errors.js';

/**
 * PKCS#11 3.0 CKR_AEAD_DECRYPT_FAILED (pkcs11t.h, 0x35): what a 3.0 token
 * returns on a GCM tag mismatch. pkcs11js 2.1.7 has no constant for it.
 */
const CKR_AEAD_DECRYPT_FAILED = 0x35;

/** How the adapter reacts to a return value; the PKCS#11 code itself never leaves this folder. */
export type CkrClass =
  /** Wrong, locked or expired PIN: latch, never log in again automatically (a retry loop locks the token). */
  | 'pin'
  /** Sessions, login state or the token itself are gone: reopen everything, with backoff. */
  | 'connection'
  /** An object handle went stale: the key was deleted, or the token vanished underneath us. */
  | 'handle'
  /** Authentication of the ciphertext failed (only meaningful on decrypt). */
  | 'auth'
  /** The key exists but may not be used for AES-GCM. */
  | 'key'
  /** The token is out of sessions or memory. */
  | 'throttled'
  | 'other';

const C = pkcs11js;
const CLASS_BY_CKR = new Map<number, CkrClass>([
  [C.CKR_PIN_INCORRECT, 'pin'],
  [C.CKR_PIN_LOCKED, 'pin'],
  [C.CKR_PIN_EXPIRED, 'pin'],
  [C.CKR_PIN_INVALID, 'pin'],
  [C.CKR_PIN_LEN_RANGE, 'pin'],
  [C.CKR_USER_PIN_NOT_INITIALIZED, 'pin'],
  [C.CKR_SESSION_HANDLE_INVALID, 'connection'],
  [C.CKR_SESSION_CLOSED, 'connection'],
  [C.CKR_DEVICE_REMOVED, 'connection'],
  [C.CKR_DEVICE_ERROR, 'connection'],
  [C.CKR_TOKEN_NOT_PRESENT, 'connection'],
  [C.CKR_TOKEN_NOT_RECOGNIZED, 'connection'],
  [C.CKR_SLOT_ID_INVALID, 'connection'],
  [C.CKR_CRYPTOKI_NOT_INITIALIZED, 'connection'],
  [C.CKR_USER_NOT_LOGGED_IN, 'connection'],
  // SoftHSM answers CKR_GENERAL_ERROR when its token directory disappeared, and also on a
  // GCM tag mismatch (SymDecrypt, a failed decryptFinal:
  // https://github.com/softhsm/SoftHSMv2/blob/2.6.1/src/lib/SoftHSM.cpp);
  // the decrypt path disambiguates with a liveness check.
  [C.CKR_GENERAL_ERROR, 'connection'],
  [C.CKR_OBJECT_HANDLE_INVALID, 'handle'],
  [C.CKR_KEY_HANDLE_INVALID, 'handle'],
  [C.CKR_ENCRYPTED_DATA_INVALID, 'auth'],
  [C.CKR_ENCRYPTED_DATA_LEN_RANGE, 'auth'],
  [CKR_AEAD_DECRYPT_FAILED, 'auth'],
  [C.CKR_KEY_FUNCTION_NOT_PERMITTED, 'key'],
  [C.CKR_KEY_TYPE_INCONSISTENT, 'key'],
  [C.CKR_KEY_SIZE_RANGE, 'key'],
  [C.CKR_MECHANISM_INVALID, 'key'],
  [C.CKR_MECHANISM_PARAM_INVALID, 'key'],
  [C.CKR_SESSION_COUNT, 'throttled'],
  [C.CKR_DEVICE_MEMORY, 'throttled'],
  [C.CKR_HOST_MEMORY, 'throttled'],
]);

const NAME_BY_CKR = new Map<number, string>([[CKR_AEAD_DECRYPT_FAILED, 'CKR_AEAD_DECRYPT_FAILED']]);
for (const [name, value] of Object.entries(pkcs11js)) {
  if (name.startsWith('CKR_') && typeof value === 'number' && !NAME_BY_CKR.has(value)) NAME_BY_CKR.set(value, name);
}

/** The CK_RV carried by a pkcs11js error, or undefined for anything else. */
export function ckrOf(err: unknown): number | undefined {
  return err instanceof pkcs11js.Pkcs11Error ? err.code : undefined;
}

/** The symbolic name of a return value, e.g. "CKR_PIN_INCORRECT" (safe to log and return). */
export function ckrName(code: number): string {
  return NAME_BY_CKR.get(code) ?? `CKR_0x${code.toString(16).padStart(8, '0')}`;
}

export function classifyCkr(code: number | undefined): CkrClass {
  return code === undefined ? 'other' : (CLASS_BY_CKR.get(code) ?? 'other');
}

/**
 * Translates a pkcs11js failure into the domain taxonomy (docs/architecture.md, error taxonomy).
 * `what` names the call for the message, e.g. "C_Login on token 'kms'".
 * Callers that must act on the class (latch, reconnect) do so before calling this.
 */
export function toKmsError(err: unknown, what: string): KmsError {
  if (err instanceof KmsError) return err;
  const code = ckrOf(err);
  if (code === undefined) {
    return new BackendUnavailableError(`${what} failed: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const message = `${what} failed: ${ckrName(code)}`;
  switch (classifyCkr(code)) {
    case 'pin':
      // The CK_RV first: health reasons are truncated, and this one is what the operator needs.
      return new BackendMisconfiguredError(
        `PKCS#11 login refused with ${ckrName(code)} (${what}); not logging in again automatically, ` +
          'because repeated attempts lock the token. Fix the PIN (a changed PIN file is picked up) or restart',
        { cause: err },
      );
    case 'auth':
      return new MalformedCiphertextError(`ciphertext failed authentication in the token (${ckrName(code)})`, {
        cause: err,
      });
    case 'key':
      return new KeyUnusableError(`${message}: the key may not be used for AES-GCM`, { cause: err });
    case 'throttled':
      return new BackendThrottledError(message, { cause: err });
    case 'connection':
    case 'handle':
    case 'other':
      return new BackendUnavailableError(message, { cause: err });
  }
}
