import { KeyVersionUnknownError, MalformedCiphertextError } from '../../../domain/model/errors.js';
import { envelopeHeader } from '../../../domain/model/envelope.js';
import type { KeyVersion, WrappedKey } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { ModeWrapper } from './delinea.key-wrapper.js';
import type { DsvCrypto } from './delinea.dsv-crypto.js';
import { type KeyScope, parseScopedKeyId, scopedKeyVersion } from './delinea.key-id.js';
import { bindSeed, openBound } from './delinea.remote-binding.js';

/** What currentVersion encrypts to learn the key's current version (DSV reports it with every ciphertext). */
const PROBE = new Uint8Array(16);
/** A wrapped seed larger than this cannot be a DSV ciphertext of 32 bytes; refused unsent. */
const MAX_BLOB = 1_024;

/**
 * remote mode: DSV's encryption as a service wraps and unwraps; the KEK never leaves Delinea.
 * `wrap` names the exact version it was given and checks the answer reports it; `unwrap` names
 * the version from the key_id. DSV takes no associated data, so the envelope header is bound
 * inside the plaintext DSV encrypts (delinea.remote-binding.ts; docs/adr/0013-delinea-backend.md).
 */
export class RemoteKeyWrapper implements ModeWrapper {
  constructor(
    private readonly key: DsvCrypto,
    private readonly scope: KeyScope,
  ) {}

  async currentVersion(signal: AbortSignal): Promise<KeyVersion> {
    const { version } = await this.key.encrypt(PROBE, undefined, signal);
    return scopedKeyVersion(this.scope, version, undefined);
  }

  async wrap(seed: Uint8Array, version: KeyVersion, signal: AbortSignal): Promise<WrappedKey> {
    throwIfAborted(signal);
    const n = this.versionOf(version.keyId);
    const out = await this.key.encrypt(bindSeed(envelopeHeader(version.keyId, 'opaque'), seed), n, signal);
    if (out.version !== n) {
      throw new KeyVersionUnknownError(`${this.key.where} encrypted with version ${out.version}, not ${n}`);
    }
    return { keyId: version.keyId, payload: { scheme: 'opaque', blob: new Uint8Array(Buffer.from(out.ciphertext)) } };
  }

  async unwrap(wrapped: WrappedKey, signal: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal);
    const n = this.versionOf(wrapped.keyId);
    const p = wrapped.payload;
    if (p.scheme !== 'opaque' || p.blob.length === 0 || p.blob.length > MAX_BLOB) {
      throw new MalformedCiphertextError(`the delinea remote mode cannot open this ${p.scheme} payload`);
    }
    const bound = await this.key.decrypt(Buffer.from(p.blob).toString('utf8'), n, signal);
    return openBound(envelopeHeader(wrapped.keyId, 'opaque'), bound, this.key.where);
  }

  private versionOf(keyId: WrappedKey['keyId']): number {
    const named = parseScopedKeyId(this.scope, keyId);
    if (!named) throw new KeyVersionUnknownError(`key_id ${keyId} is not a version of ${this.key.where}`);
    return named.version;
  }
}
