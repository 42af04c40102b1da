import { createHash } from 'node:crypto';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { TpmWriter } from './tpm.buffer.js';
import { TPM_ALG, TPM_CC } from './tpm.constants.js';

/**
 * A PCR selection in one bank, as `tpm.pcrs` and tpm2-tools' `-l` write it:
 * "sha256:0,2,4,7". Only the SHA-256 bank (every PC Client TPM 2.0 has it:
 * TCG PC Client Platform TPM Profile, "PCR banks").
 */
export interface PcrSelection {
  readonly bank: 'sha256';
  /** Ascending, unique, 0..23. */
  readonly pcrs: readonly number[];
}

/** PCRs 0..23: IMPLEMENTATION_PCR on the PC Client platform (TCG PC Client Platform TPM Profile). */
const PCR_COUNT = 24;
/** sizeofSelect: 3 bytes cover 24 PCRs (Part 2 §10.6.1 TPMS_PCR_SELECTION). */
const SIZEOF_SELECT = 3;

/** Parses `tpm.pcrs`; empty or absent = no binding (undefined). */
export function parsePcrSelection(text: string | undefined): PcrSelection | undefined {
  const t = (text ?? '').trim();
  if (t === '') return undefined;
  const m = /^sha256:(\d{1,2}(?:,\d{1,2})*)$/.exec(t);
  const pcrs = m ? (m[1] as string).split(',').map(Number) : [];
  if (!m || pcrs.some((n) => n >= PCR_COUNT) || new Set(pcrs).size !== pcrs.length) {
    throw new BackendMisconfiguredError(
      `tpm.pcrs must be like "sha256:0,2,4,7" (SHA-256 bank, PCRs 0..${PCR_COUNT - 1}, each once), not "${t}"`,
    );
  }
  return { bank: 'sha256', pcrs: [...pcrs].sort((a, b) => a - b) };
}

export function formatPcrSelection(s: PcrSelection): string {
  return `${s.bank}:${s.pcrs.join(',')}`;
}

/** TPML_PCR_SELECTION (Part 2 §10.9.7) with one TPMS_PCR_SELECTION (§10.6.2): count, hash, sizeofSelect, bitmap. */
export function marshalPcrSelection(s: PcrSelection): Buffer {
  const bitmap = Buffer.alloc(SIZEOF_SELECT);
  for (const n of s.pcrs) bitmap[n >> 3] = (bitmap[n >> 3] as number) | (1 << (n & 7));
  return new TpmWriter().u32(1).u16(TPM_ALG.SHA256).u8(SIZEOF_SELECT).bytes(bitmap).done();
}

const sha256 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

const cc = (code: number): Buffer => new TpmWriter().u32(code).done();

/**
 * The authPolicy of a PCR-bound sealed object, computed offline (TPM 2.0
 * Library Part 1 §19.7 "Enhanced Authorization"; the policy digest starts as
 * zeros of the policy hash's size):
 * 1. TPM2_PolicyPCR (Part 3 §23.7): digest = H(digest || TPM_CC_PolicyPCR ||
 *    TPML_PCR_SELECTION || H(selected PCR values, in selection order));
 * 2. TPM2_PolicyPassword (Part 3 §23.18): digest = H(digest ||
 *    TPM_CC_PolicyAuthValue) (the same update as PolicyAuthValue), so the
 *    object's auth value is still needed, sent in the clear in the session.
 */
export function pcrPasswordPolicy(s: PcrSelection, values: readonly Buffer[]): Buffer {
  return policyPassword(policyPcr(Buffer.alloc(32), s, values));
}

export function policyPcr(old: Buffer, s: PcrSelection, values: readonly Buffer[]): Buffer {
  if (values.length !== s.pcrs.length || values.some((v) => v.length !== 32)) {
    throw new BackendMisconfiguredError(`expected ${s.pcrs.length} SHA-256 PCR values for ${formatPcrSelection(s)}`);
  }
  return sha256(old, cc(TPM_CC.PolicyPCR), marshalPcrSelection(s), sha256(...values));
}

function policyPassword(old: Buffer): Buffer {
  return sha256(old, cc(TPM_CC.PolicyAuthValue));
}

/** The SHA-256 PCR values of a selection, in selection order: what an enrollment records. */
export interface PcrValues {
  readonly selection: PcrSelection;
  readonly values: readonly Buffer[];
}
