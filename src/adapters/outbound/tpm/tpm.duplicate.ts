import { constants, createCipheriv, createHash, createHmac, publicEncrypt, randomBytes } from 'node:crypto';
import { TpmWriter } from './tpm.buffer.js';
import { SHA256_BYTES, TPM_ALG } from './tpm.constants.js';
import { TpmFormatError } from './tpm.errors.js';
import { kdfaSha256 } from './tpm.kdf.js';
import { objectName, rsaPublicKey, type KeyedHashPublic, type RsaPublic, type TpmPublic } from './tpm.public.js';
import { sealedDataTemplate } from './tpm.templates.js';

/** What TPM2_Import takes besides the parent: the object's public area, its wrapped private area, the encrypted seed. */
export interface ImportBlob {
  readonly public: KeyedHashPublic;
  /** TPM2B_PRIVATE contents: outer HMAC (TPM2B_DIGEST) || encrypted TPM2B_SENSITIVE. */
  readonly duplicate: Buffer;
  /** TPM2B_ENCRYPTED_SECRET contents: the seed, RSA-OAEP encrypted to the parent. */
  readonly encryptedSeed: Buffer;
}

/**
 * Makes a sealed data object holding `data` and wraps it for import under
 * `parent` (an RSA storage key, e.g. a node's SRK) without any TPM: the
 * "outer wrapper" of a duplication, TPM 2.0 Library Part 1 §23.3.2
 * (https://trustedcomputinggroup.org/resource/tpm-library-specification/):
 * - seed: random, the size of the parent's name-algorithm digest; encrypted
 *   with RSA-OAEP, hash = parent nameAlg, label "DUPLICATE\0" (Part 1 §B.10.3);
 * - symKey = KDFa(seed, "STORAGE", name, "", parent symmetric key bits),
 *   AES-CFB with a zero IV over the marshalled TPM2B_SENSITIVE;
 * - HMACkey = KDFa(seed, "INTEGRITY", "", "", digest bits), over
 *   encSensitive || name, placed first as a TPM2B_DIGEST.
 * No inner wrapper (Import's symmetricAlg = TPM_ALG_NULL).
 */
export function wrapSealedDataForImport(
  parent: TpmPublic,
  data: Uint8Array,
  authValue: Uint8Array,
  authPolicy?: Buffer,
): ImportBlob {
  const p = storageParent(parent);
  // The obfuscation value; unique = H(seedValue || data) binds the public area to it (Part 2 §12.2.3.2, TPMU_PUBLIC_ID).
  const seedValue = randomBytes(SHA256_BYTES);
  const unique = createHash('sha256').update(seedValue).update(data).digest();
  const pub = sealedDataTemplate(unique, {
    hasAuthValue: authValue.length > 0,
    imported: true,
    ...(authPolicy ? { authPolicy } : {}),
  });
  const name = objectName(pub);

  // TPMT_SENSITIVE (Part 2 §12.3.2.4) inside a TPM2B_SENSITIVE.
  const sensitive = new TpmWriter()
    .sized((w) => w.u16(TPM_ALG.KEYEDHASH).tpm2b(authValue).tpm2b(seedValue).tpm2b(data))
    .done();

  const seed = randomBytes(SHA256_BYTES);
  const encryptedSeed = publicEncrypt(
    {
      key: rsaPublicKey(p),
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha256',
      oaepLabel: Buffer.from('DUPLICATE\0', 'ascii'),
    },
    seed,
  );
  const symKey = kdfaSha256(seed, 'STORAGE', name, Buffer.alloc(0), p.symmetric.keyBits);
  const cipher = createCipheriv(`aes-${p.symmetric.keyBits}-cfb`, symKey, Buffer.alloc(16));
  const encSensitive = Buffer.concat([cipher.update(sensitive), cipher.final()]);
  const hmacKey = kdfaSha256(seed, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), SHA256_BYTES * 8);
  const outerHmac = createHmac('sha256', hmacKey).update(encSensitive).update(name).digest();
  const duplicate = new TpmWriter().tpm2b(outerHmac).bytes(encSensitive).done();
  return { public: pub, duplicate, encryptedSeed };
}

function storageParent(parent: TpmPublic): RsaPublic & { symmetric: { keyBits: number } } {
  if (parent.type !== 'rsa' || parent.nameAlg !== TPM_ALG.SHA256) {
    throw new TpmFormatError('the parent must be an RSA storage key with SHA-256 as its name algorithm');
  }
  const sym = parent.symmetric;
  if (
    !sym ||
    sym.algorithm !== TPM_ALG.AES ||
    sym.mode !== TPM_ALG.CFB ||
    (sym.keyBits !== 128 && sym.keyBits !== 256)
  ) {
    throw new TpmFormatError('the parent is not a storage key with AES-CFB (128 or 256 bits)');
  }
  return { ...parent, symmetric: sym };
}
