/**
 * The TPM 2.0 constants kleidi uses, from the TPM 2.0 Library specification
 * Part 2 "Structures" (https://trustedcomputinggroup.org/resource/tpm-library-specification/):
 * §6.5.2 TPM_ST, §6.5.2 TPM_CC (Table 12), §6.3 TPM_ALG_ID (Table 9 and the
 * TCG Algorithm Registry), §7.4 TPM_RH, §6.12 TPM_CAP, §8.3 TPMA_OBJECT.
 */

/** TPM_ST: command/response tags. */
export const TPM_ST_NO_SESSIONS = 0x8001;
export const TPM_ST_SESSIONS = 0x8002;

/** TPM_CC: command codes. */
export const TPM_CC = {
  CreatePrimary: 0x131,
  Startup: 0x144,
  Create: 0x153,
  Import: 0x156,
  Load: 0x157,
  Unseal: 0x15e,
  FlushContext: 0x165,
  ReadPublic: 0x173,
  GetCapability: 0x17a,
  GetRandom: 0x17b,
  PolicyAuthValue: 0x16b,
  StartAuthSession: 0x176,
  PCR_Read: 0x17e,
  PolicyPCR: 0x17f,
  PolicyPassword: 0x18c,
} as const;

/** TPM_SE: session types (Part 2 §6.11). */
export const TPM_SE_POLICY = 0x01;

/** TPM_SU: Startup types. */
export const TPM_SU_CLEAR = 0x0000;

/** TPM_ALG_ID. */
export const TPM_ALG = {
  RSA: 0x0001,
  SHA256: 0x000b,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  NULL: 0x0010,
  CFB: 0x0043,
} as const;

/** TPM_RH / TPM_RS: permanent handles. */
export const TPM_RH_OWNER = 0x40000001;
export const TPM_RS_PW = 0x40000009;
export const TPM_RH_NULL = 0x40000007;

/** TPM_HT: the handle type is the top byte of a handle (Part 2 §7.2). */
export const TPM_HT_TRANSIENT = 0x80;

/** TPM_CAP. */
export const TPM_CAP_HANDLES = 0x00000001;
export const TPM_CAP_TPM_PROPERTIES = 0x00000006;

/** TPMA_OBJECT bits (Part 2 §8.3.2, Table 31). */
export const TPMA_OBJECT = {
  fixedTPM: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

/** SHA-256 digest size, the name algorithm of every object kleidi makes. */
export const SHA256_BYTES = 32;

/** The 10-byte header of every command and response (Part 1 §18.2, Part 3 §5). */
export const HEADER_BYTES = 10;

/**
 * The largest command or response kleidi exchanges. TPM_PT_MAX_COMMAND_SIZE /
 * TPM_PT_MAX_RESPONSE_SIZE are 4096 on the PC Client platform (TCG PC Client
 * Platform TPM Profile Specification, Table "Defines for Implementation Values").
 */
export const MAX_MESSAGE_BYTES = 4096;
