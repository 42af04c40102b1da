import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { TpmReader, TpmWriter } from './tpm.buffer.js';
import { TPM_ALG } from './tpm.constants.js';
import { TpmFormatError } from './tpm.errors.js';

/**
 * TPMT_PUBLIC (TPM 2.0 Library Part 2 §12.2.4) for the two object types
 * kleidi uses: RSA storage keys (TPMS_RSA_PARMS, §12.2.3.5) and keyedHash
 * sealed-data objects (TPMS_KEYEDHASH_PARMS, §12.2.3.3).
 */
interface SymDefObject {
  readonly algorithm: number;
  readonly keyBits: number;
  readonly mode: number;
}

interface PublicCommon {
  readonly nameAlg: number;
  readonly attributes: number;
  readonly authPolicy: Buffer;
}

export interface RsaPublic extends PublicCommon {
  readonly type: 'rsa';
  /** undefined = TPM_ALG_NULL (not a storage key). */
  readonly symmetric: SymDefObject | undefined;
  /** TPMT_RSA_SCHEME: the scheme and, when it has one, its hash. */
  readonly scheme: { readonly alg: number; readonly hashAlg?: number };
  readonly keyBits: number;
  /** 0 means the default 2^16+1 (Part 2 §12.2.3.5). */
  readonly exponent: number;
  /** The modulus (or, in a template, the caller's `unique` input). */
  readonly unique: Buffer;
}

export interface KeyedHashPublic extends PublicCommon {
  readonly type: 'keyedhash';
  /** Only TPM_ALG_NULL: a sealed data object, not an HMAC key. */
  readonly unique: Buffer;
}

export type TpmPublic = RsaPublic | KeyedHashPublic;

/** RSA schemes with no details (TPMS_SCHEME_RSAES is empty, Part 2 §11.2.4.2). */
const RSA_SCHEMES_WITHOUT_HASH = new Set([TPM_ALG.NULL, 0x0015]);

export function marshalPublic(p: TpmPublic): Buffer {
  const w = new TpmWriter();
  w.u16(p.type === 'rsa' ? TPM_ALG.RSA : TPM_ALG.KEYEDHASH)
    .u16(p.nameAlg)
    .u32(p.attributes)
    .tpm2b(p.authPolicy);
  if (p.type === 'rsa') {
    if (p.symmetric) {
      w.u16(p.symmetric.algorithm).u16(p.symmetric.keyBits).u16(p.symmetric.mode);
    } else {
      w.u16(TPM_ALG.NULL);
    }
    w.u16(p.scheme.alg);
    if (!RSA_SCHEMES_WITHOUT_HASH.has(p.scheme.alg)) {
      w.u16(p.scheme.hashAlg ?? TPM_ALG.SHA256);
    }
    w.u16(p.keyBits).u32(p.exponent).tpm2b(p.unique);
  } else {
    w.u16(TPM_ALG.NULL).tpm2b(p.unique);
  }
  return w.done();
}

export function unmarshalPublic(r: TpmReader): TpmPublic {
  const type = r.u16();
  const nameAlg = r.u16();
  const attributes = r.u32();
  const authPolicy = r.tpm2b();
  if (type === TPM_ALG.RSA) {
    const algorithm = r.u16();
    const symmetric = algorithm === TPM_ALG.NULL ? undefined : { algorithm, keyBits: r.u16(), mode: r.u16() };
    const alg = r.u16();
    const scheme = RSA_SCHEMES_WITHOUT_HASH.has(alg) ? { alg } : { alg, hashAlg: r.u16() };
    const keyBits = r.u16();
    const exponent = r.u32();
    return { type: 'rsa', nameAlg, attributes, authPolicy, symmetric, scheme, keyBits, exponent, unique: r.tpm2b() };
  }
  if (type === TPM_ALG.KEYEDHASH) {
    const scheme = r.u16();
    if (scheme !== TPM_ALG.NULL) {
      throw new TpmFormatError(`a keyedHash object with scheme 0x${scheme.toString(16)} is not a sealed data object`);
    }
    return { type: 'keyedhash', nameAlg, attributes, authPolicy, unique: r.tpm2b() };
  }
  throw new TpmFormatError(`public area of type 0x${type.toString(16)} is not supported (RSA and keyedHash only)`);
}

/** Parses a TPM2B_PUBLIC (the format of tpm2-tools' `.pub` files), which must be all of `bytes`. */
export function parsePublicBlob(bytes: Buffer): TpmPublic {
  const r = new TpmReader(bytes, 'TPM2B_PUBLIC');
  const p = r.sized(unmarshalPublic, 'TPMT_PUBLIC');
  r.end();
  return p;
}

/** TPM2B_PUBLIC around a TPMT_PUBLIC. */
export function publicBlob(p: TpmPublic): Buffer {
  return new TpmWriter().tpm2b(marshalPublic(p)).done();
}

/**
 * An object's Name: nameAlg (UINT16) || H_nameAlg(marshalled TPMT_PUBLIC)
 * (Part 1 §16 "Names"). Only SHA-256 is supported.
 */
export function objectName(p: TpmPublic): Buffer {
  if (p.nameAlg !== TPM_ALG.SHA256) {
    throw new TpmFormatError(`name algorithm 0x${p.nameAlg.toString(16)} is not supported (SHA-256 only)`);
  }
  const w = new TpmWriter().u16(p.nameAlg).bytes(createHash('sha256').update(marshalPublic(p)).digest());
  return w.done();
}

/** The RSA public key of an RSA object as a Node KeyObject. */
export function rsaPublicKey(p: RsaPublic): KeyObject {
  const e = Buffer.alloc(4);
  e.writeUInt32BE(p.exponent === 0 ? 0x10001 : p.exponent);
  const firstNonZero = e.findIndex((b) => b !== 0);
  return createPublicKey({
    key: { kty: 'RSA', n: p.unique.toString('base64url'), e: e.subarray(firstNonZero).toString('base64url') },
    format: 'jwk',
  });
}
