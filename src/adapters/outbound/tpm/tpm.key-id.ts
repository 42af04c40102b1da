import { createHmac } from 'node:crypto';
import { composeKeyId, type KeyId } from '../../../domain/model/key-id.js';

/**
 * The key_id of a KEK version (ADR 0014): `tpm:v<version>:<check>`, where
 * check is the first 8 bytes of HMAC-SHA-256(KEK, "kleidi-tpm-key-check"),
 * hex. It depends only on the version number and the key material, so every
 * node that holds the version reports the same key_id after every restart,
 * and two different keys never share one.
 */
export function tpmKeyId(version: number, kek: Uint8Array): KeyId {
  const check = createHmac('sha256', kek).update('kleidi-tpm-key-check').digest().subarray(0, 8).toString('hex');
  return composeKeyId('tpm', `v${version}`, check);
}
