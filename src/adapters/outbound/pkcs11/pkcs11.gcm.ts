import pkcs11js from 'pkcs11js';
import { GCM_NONCE_BYTES, GCM_TAG_BYTES } from '../../../domain/model/key-version.js';
import type { SessionHandle } from './pkcs11.session-pool.js';

/** A key object handle (CK_OBJECT_HANDLE as pkcs11js passes it). */
export type ObjectHandle = Buffer;

/**
 * Where the single-part C_Encrypt/C_Decrypt runs (docs/adr/0024):
 * `thread-pool` on libuv's pool (C_*Init stays on the event loop: pkcs11js has
 * no asynchronous form), the default, so a slow or networked token never
 * blocks the loop for its round trip; `event-loop` runs both calls inline,
 * which for a local token (SoftHSM2: about 10 µs per pair) is several times
 * cheaper than the hop to the pool and the lock contention it brings.
 */
export type TokenCalls = 'thread-pool' | 'event-loop';

/** CKM_AES_GCM with CK_GCM_PARAMS (Current Mechanisms v2.40, AES-GCM): 96-bit IV, 128-bit tag (NIST SP 800-38D). */
function gcm(iv: Buffer, aad: Buffer): pkcs11js.Mechanism {
  const parameter: pkcs11js.GcmParams = {
    type: pkcs11js.CK_PARAMS_GCM,
    iv,
    // ulIvBits is required by pkcs11js; a missing field makes it throw and then abort the
    // process with "free(): invalid pointer" (measured), so it is always set here.
    ivBits: iv.length * 8,
    aad,
    tagBits: GCM_TAG_BYTES * 8,
  };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}

/**
 * AES-GCM encryption inside the token: returns ciphertext || tag.
 * C_EncryptInit is synchronous (pkcs11js has no async form); C_EncryptAsync
 * runs on the libuv thread pool unless `calls` says `event-loop`.
 * Being async, a synchronous throw still reaches the caller as a rejection.
 */
export async function gcmEncrypt(
  lib: pkcs11js.PKCS11,
  session: SessionHandle,
  key: ObjectHandle,
  iv: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  calls: TokenCalls,
): Promise<Uint8Array> {
  if (iv.length !== GCM_NONCE_BYTES) throw new RangeError(`GCM IV must be ${GCM_NONCE_BYTES} bytes`);
  // The native worker keeps raw pointers to input and output but references only the output
  // (https://github.com/PeculiarVentures/pkcs11js/blob/master/src/worker.cpp):
  // `input` and `mechanism` are owned here and stay referenced until settled.
  const input = Buffer.from(plaintext);
  const mechanism = gcm(Buffer.from(iv), Buffer.from(aad));
  const output = Buffer.alloc(input.length + GCM_TAG_BYTES);
  try {
    lib.C_EncryptInit(session, mechanism, key);
    const sealed =
      calls === 'event-loop' ? lib.C_Encrypt(session, input, output) : await lib.C_EncryptAsync(session, input, output);
    return new Uint8Array(sealed);
  } finally {
    input.fill(0); // SECURITY: our copy of the seed
    keepAlive(mechanism);
  }
}

/** AES-GCM decryption inside the token: verifies the tag and returns the plaintext. */
export async function gcmDecrypt(
  lib: pkcs11js.PKCS11,
  session: SessionHandle,
  key: ObjectHandle,
  iv: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
  calls: TokenCalls,
): Promise<Uint8Array> {
  const input = Buffer.from(sealed);
  const mechanism = gcm(Buffer.from(iv), Buffer.from(aad));
  // SoftHSM wants room for the whole input, tag included, or answers CKR_BUFFER_TOO_SMALL (measured).
  const output = Buffer.alloc(input.length);
  try {
    lib.C_DecryptInit(session, mechanism, key);
    const plain =
      calls === 'event-loop' ? lib.C_Decrypt(session, input, output) : await lib.C_DecryptAsync(session, input, output);
    return new Uint8Array(plain);
  } finally {
    output.fill(0); // SECURITY: the returned copy is the only plaintext left
    keepAlive(input, mechanism);
  }
}

/** Fixed inputs of the key check value; the IV is never produced by randomBytes in practice (p = 2^-96). */
const KCV_IV = Buffer.from('kleidi-kcv-1', 'ascii');
const KCV_AAD = Buffer.from('kleidi key check value v1', 'ascii');
const KCV_PLAINTEXT = Buffer.alloc(16);
export const KCV_BYTES = 8;

/**
 * The key check value: the first 8 bytes of the GCM tag over a fixed IV, AAD
 * and zero block (docs/adr/0004). Computed by the token, identical for the
 * same key material on any token (and in any AES-GCM implementation), and
 * needs only CKA_ENCRYPT. 64 bits rather than the 24 of CKA_CHECK_VALUE, so
 * two different keys under one label and version practically never collide.
 */
export async function keyCheckValue(
  lib: pkcs11js.PKCS11,
  session: SessionHandle,
  key: ObjectHandle,
  calls: TokenCalls,
): Promise<string> {
  const out = await gcmEncrypt(lib, session, key, KCV_IV, KCV_AAD, KCV_PLAINTEXT, calls);
  const tag = out.subarray(KCV_PLAINTEXT.length);
  return Buffer.from(tag.subarray(0, KCV_BYTES)).toString('hex');
}

function keepAlive(...values: unknown[]): void {
  void values;
}
