import { InvalidRequestError } from './errors.js';
import { KEY_ID_MAX_BYTES, utf8Length } from './limits.js';

/**
 * The public identifier of one key-encryption key version, as reported in
 * Status and Encrypt. It is not secret (the apiserver logs a hash of it),
 * must never be reused for different key material, and must be the same on
 * every control-plane node that holds the same key.
 */
export type KeyId = string & { readonly __brand: 'KeyId' };

/** Validates a key_id against the apiserver's ValidateKeyID rule: 1..1024 bytes. */
export function parseKeyId(raw: string): KeyId {
  const bytes = utf8Length(raw);
  if (bytes === 0) {
    throw new InvalidRequestError('key_id must not be empty');
  }
  if (bytes > KEY_ID_MAX_BYTES) {
    throw new InvalidRequestError(`key_id is ${bytes} bytes; at most ${KEY_ID_MAX_BYTES} are allowed`);
  }
  return raw as KeyId;
}

/**
 * Builds a key_id from a backend's key identity. Parts are joined with ':'
 * and must not contain it, so two different identities never give the same id.
 * Example: `local:v3:9f8e7d6c5b4a3921`.
 */
export function composeKeyId(backend: string, ...parts: string[]): KeyId {
  for (const p of [backend, ...parts]) {
    if (p.length === 0 || p.includes(':')) {
      throw new InvalidRequestError(`key_id part ${JSON.stringify(p)} must be non-empty and contain no ':'`);
    }
  }
  return parseKeyId([backend, ...parts].join(':'));
}
