/**
 * Decoding of TPM_RC response codes, TPM 2.0 Library Part 2 §6.6
 * (https://trustedcomputinggroup.org/resource/tpm-library-specification/):
 * bit 7 set = format 1 (an error tied to a parameter, handle or session, whose
 * number is in bits 8-11); otherwise format 0, where bit 8 (VER1) marks a TPM
 * 2.0 code, bit 10 a vendor code and bit 11 a warning. The names are those of
 * Part 2 Table 16; tpm2-tools' `tpm2_rc_decode` prints the same decoding.
 */

const RC_VER1 = 0x100;
const RC_FMT1 = 0x080;
const RC_WARN = 0x900;

const FMT1_NAMES: ReadonlyMap<number, string> = new Map([
  [0x001, 'ASYMMETRIC'],
  [0x002, 'ATTRIBUTES'],
  [0x003, 'HASH'],
  [0x004, 'VALUE'],
  [0x005, 'HIERARCHY'],
  [0x007, 'KEY_SIZE'],
  [0x008, 'MGF'],
  [0x009, 'MODE'],
  [0x00a, 'TYPE'],
  [0x00b, 'HANDLE'],
  [0x00c, 'KDF'],
  [0x00d, 'RANGE'],
  [0x00e, 'AUTH_FAIL'],
  [0x00f, 'NONCE'],
  [0x010, 'PP'],
  [0x012, 'SCHEME'],
  [0x015, 'SIZE'],
  [0x016, 'SYMMETRIC'],
  [0x017, 'TAG'],
  [0x018, 'SELECTOR'],
  [0x01a, 'INSUFFICIENT'],
  [0x01b, 'SIGNATURE'],
  [0x01c, 'KEY'],
  [0x01d, 'POLICY_FAIL'],
  [0x01f, 'INTEGRITY'],
  [0x020, 'TICKET'],
  [0x021, 'RESERVED_BITS'],
  [0x022, 'BAD_AUTH'],
  [0x023, 'EXPIRED'],
  [0x024, 'POLICY_CC'],
  [0x025, 'BINDING'],
  [0x026, 'CURVE'],
  [0x027, 'ECC_POINT'],
]);

const VER1_NAMES: ReadonlyMap<number, string> = new Map([
  [0x000, 'INITIALIZE'],
  [0x001, 'FAILURE'],
  [0x003, 'SEQUENCE'],
  [0x00b, 'PRIVATE'],
  [0x019, 'HMAC'],
  [0x020, 'DISABLED'],
  [0x021, 'EXCLUSIVE'],
  [0x024, 'AUTH_TYPE'],
  [0x025, 'AUTH_MISSING'],
  [0x026, 'POLICY'],
  [0x027, 'PCR'],
  [0x028, 'PCR_CHANGED'],
  [0x02d, 'UPGRADE'],
  [0x02e, 'TOO_MANY_CONTEXTS'],
  [0x02f, 'AUTH_UNAVAILABLE'],
  [0x030, 'REBOOT'],
  [0x031, 'UNBALANCED'],
  [0x042, 'COMMAND_SIZE'],
  [0x043, 'COMMAND_CODE'],
  [0x044, 'AUTHSIZE'],
  [0x045, 'AUTH_CONTEXT'],
  [0x046, 'NV_RANGE'],
  [0x047, 'NV_SIZE'],
  [0x048, 'NV_LOCKED'],
  [0x049, 'NV_AUTHORIZATION'],
  [0x04a, 'NV_UNINITIALIZED'],
  [0x04b, 'NV_SPACE'],
  [0x04c, 'NV_DEFINED'],
  [0x050, 'BAD_CONTEXT'],
  [0x051, 'CPHASH'],
  [0x052, 'PARENT'],
  [0x053, 'NEEDS_TEST'],
  [0x054, 'NO_RESULT'],
  [0x055, 'SENSITIVE'],
]);

const WARN_NAMES: ReadonlyMap<number, string> = new Map([
  [0x001, 'CONTEXT_GAP'],
  [0x002, 'OBJECT_MEMORY'],
  [0x003, 'SESSION_MEMORY'],
  [0x004, 'MEMORY'],
  [0x005, 'SESSION_HANDLES'],
  [0x006, 'OBJECT_HANDLES'],
  [0x007, 'LOCALITY'],
  [0x008, 'YIELDED'],
  [0x009, 'CANCELED'],
  [0x00a, 'TESTING'],
  [0x010, 'REFERENCE_H0'],
  [0x011, 'REFERENCE_H1'],
  [0x012, 'REFERENCE_H2'],
  [0x013, 'REFERENCE_H3'],
  [0x014, 'REFERENCE_H4'],
  [0x015, 'REFERENCE_H5'],
  [0x016, 'REFERENCE_H6'],
  [0x018, 'REFERENCE_S0'],
  [0x019, 'REFERENCE_S1'],
  [0x01a, 'REFERENCE_S2'],
  [0x01b, 'REFERENCE_S3'],
  [0x01c, 'REFERENCE_S4'],
  [0x01d, 'REFERENCE_S5'],
  [0x01e, 'REFERENCE_S6'],
  [0x020, 'NV_RATE'],
  [0x021, 'LOCKOUT'],
  [0x022, 'RETRY'],
  [0x023, 'NV_UNAVAILABLE'],
]);

export interface DecodedResponseCode {
  /** The raw 32-bit response code. */
  readonly code: number;
  /** `TPM_RC_<NAME>`, or `TPM_RC_0x...` for a code this table does not know. */
  readonly name: string;
  /** A warning (the command may succeed if sent again later) rather than an error. */
  readonly warning: boolean;
  /** For format-1 codes: which parameter, handle or session the TPM blames. */
  readonly position?: { readonly kind: 'parameter' | 'handle' | 'session'; readonly index: number };
  /** `TPM_RC_AUTH_FAIL (session 1, 0x98e)`: name, position and code. */
  readonly text: string;
}

function hex(code: number): string {
  return `0x${code.toString(16).padStart(3, '0')}`;
}

/** The base code (position bits removed) kleidi compares against, e.g. 0x08e for AUTH_FAIL. */
export function baseCode(code: number): number {
  if ((code & RC_FMT1) !== 0) {
    return RC_FMT1 | (code & 0x3f);
  }
  return code & 0xfff;
}

export const RC = {
  INITIALIZE: RC_VER1 | 0x000,
  AUTH_FAIL: RC_FMT1 | 0x00e,
  BAD_AUTH: RC_FMT1 | 0x022,
  INTEGRITY: RC_FMT1 | 0x01f,
  POLICY_FAIL: RC_FMT1 | 0x01d,
  LOCKOUT: RC_WARN | 0x021,
  OBJECT_MEMORY: RC_WARN | 0x002,
  RETRY: RC_WARN | 0x022,
  YIELDED: RC_WARN | 0x008,
  TESTING: RC_WARN | 0x00a,
} as const;

export function decodeResponseCode(code: number): DecodedResponseCode {
  const build = (name: string, warning: boolean, position?: DecodedResponseCode['position']): DecodedResponseCode => {
    const where = position ? `${position.kind} ${position.index}, ` : '';
    return { code, name, warning, ...(position ? { position } : {}), text: `${name} (${where}${hex(code)})` };
  };
  if (code > 0xfff) {
    // Codes above 12 bits carry a software layer (tpm2-tss' TSS2_RC_LAYER), never a TPM.
    return build(`TPM_RC_0x${code.toString(16)}`, false);
  }
  if ((code & RC_FMT1) !== 0) {
    const n = code & 0x3f;
    const name = `TPM_RC_${FMT1_NAMES.get(n) ?? hex(RC_FMT1 | n)}`;
    const index = (code >> 8) & 0xf;
    if ((code & 0x040) !== 0) {
      return build(name, false, { kind: 'parameter', index });
    }
    if (index === 0) {
      return build(name, false);
    }
    // Bit 11 set: a session number in bits 8-10; clear: a handle number.
    return build(name, false, index & 0x8 ? { kind: 'session', index: index & 0x7 } : { kind: 'handle', index });
  }
  if ((code & RC_VER1) === 0) {
    return build(`TPM_RC_${hex(code)} (a TPM 1.2 code)`, false);
  }
  if ((code & 0x400) !== 0) {
    return build(`TPM_RC_VENDOR_${hex(code & 0x7f)}`, false);
  }
  const n = code & 0x7f;
  if ((code & 0x800) !== 0) {
    return build(`TPM_RC_${WARN_NAMES.get(n) ?? hex(code)}`, true);
  }
  return build(`TPM_RC_${VER1_NAMES.get(n) ?? hex(code)}`, false);
}
