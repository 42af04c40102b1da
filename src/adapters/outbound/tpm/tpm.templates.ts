import { TPM_ALG, TPMA_OBJECT } from './tpm.constants.js';
import type { KeyedHashPublic, RsaPublic } from './tpm.public.js';

/**
 * The storage primary key (SRK) kleidi derives in the owner hierarchy: RSA
 * 2048, SHA-256, AES-128-CFB, the attributes tpm2-tools' `tpm2_createprimary
 * -G rsa2048:aes128cfb` uses plus noDA (a primary with an empty auth value
 * has nothing to guess), and an empty `unique`. TPM2_CreatePrimary derives
 * the same key from the same hierarchy seed and template every time (Part 1
 * §26.2 "Primary Keys"), so nothing is stored in the TPM. See ADR 0014.
 */
export function srkTemplate(): RsaPublic {
  const a = TPMA_OBJECT;
  return {
    type: 'rsa',
    nameAlg: TPM_ALG.SHA256,
    attributes: a.fixedTPM | a.fixedParent | a.sensitiveDataOrigin | a.userWithAuth | a.noDA | a.restricted | a.decrypt,
    authPolicy: Buffer.alloc(0),
    symmetric: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB },
    scheme: { alg: TPM_ALG.NULL },
    keyBits: 2048,
    exponent: 0,
    unique: Buffer.alloc(0),
  };
}

/**
 * A sealed data object (keyedHash, scheme NULL) holding a KEK. `imported`:
 * fixedTPM and fixedParent clear, as TPM2_Import requires of a duplicated
 * object (Part 3 §13.3.1), and sensitiveDataOrigin clear (the data comes
 * from outside). userWithAuth set: the auth value authorises Unseal. noDA
 * only without an auth value; with one, wrong guesses count toward the
 * TPM's dictionary-attack lockout. An empty authPolicy means the ADMIN role
 * TPM2_Duplicate needs can never be satisfied, so the object cannot be
 * duplicated out of the TPM again.
 */
export function sealedDataTemplate(
  unique: Buffer,
  opts: { hasAuthValue: boolean; imported: boolean; authPolicy?: Buffer },
): KeyedHashPublic {
  const a = TPMA_OBJECT;
  // With an authPolicy (PCR binding), userWithAuth is clear: the USER role then needs a policy
  // session satisfying it (Part 1 §19.7.2), and the policy includes PolicyPassword.
  const bound = (opts.authPolicy?.length ?? 0) > 0;
  return {
    type: 'keyedhash',
    nameAlg: TPM_ALG.SHA256,
    attributes:
      (bound ? 0 : a.userWithAuth) |
      (opts.hasAuthValue ? 0 : a.noDA) |
      (opts.imported ? 0 : a.fixedTPM | a.fixedParent),
    authPolicy: opts.authPolicy ?? Buffer.alloc(0),
    unique,
  };
}
