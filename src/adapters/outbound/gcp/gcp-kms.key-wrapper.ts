import { envelopeHeader } from '../../../domain/model/envelope.js';
import {
  KeyUnusableError,
  KeyVersionUnknownError,
  type KmsError,
  MalformedCiphertextError,
} from '../../../domain/model/errors.js';
import type { KeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion, WrappedKey } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { KeyWrapper } from '../../../ports/outbound/key-wrapper.port.js';
import type { BackendRequestCounts, BackendRequestStats } from '../../../ports/outbound/metrics.port.js';
import type { KmsApi } from './gcp-kms.client.js';
import { classifyFailure, GcpCallFailure, Status, toKmsError } from './gcp-kms.errors.js';
import { type CryptoKeyRef, cryptoKeyName, parseGcpKeyId, type VersionRef, versionName } from './gcp-kms.key-id.js';
import { stateProblem, usablePrimary, versionOf } from './gcp-kms.keys.js';

/**
 * Data keys wrapped by Cloud KMS Encrypt/Decrypt with a symmetric ENCRYPT_DECRYPT CryptoKey.
 * The key_id names the key's primary CryptoKeyVersion at the last refresh; Encrypt names
 * that version (not the key, whose primary may have moved since) and its answer must name it
 * back; the envelope header, which holds the key_id, is the additional authenticated data, so
 * a ciphertext decrypts only under the key_id (and so the version) it was made for
 * (docs/adr/0011-gcp-kms-key-id.md). The Cloud KMS ciphertext is kept verbatim as an opaque
 * envelope payload. One Cloud KMS call per wrap or unwrap.
 */
export class GcpKmsKeyWrapper implements KeyWrapper, BackendRequestStats {
  readonly backend = 'gcp';

  constructor(
    private readonly api: KmsApi,
    private readonly key: CryptoKeyRef,
  ) {}

  async currentVersion(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    const name = cryptoKeyName(this.key);
    const key = await this.api.getCryptoKey(name, signal).catch((err: unknown) => {
      const f = classifyFailure(err);
      if (f instanceof GcpCallFailure && f.code === Status.NOT_FOUND) {
        throw toKmsError(f, `GetCryptoKey ${name} (create it with \`kleidi init\`)`);
      }
      throw toKmsError(f, `GetCryptoKey ${name}`);
    });
    return versionOf(usablePrimary(key, name));
  }

  async wrap(seed: Uint8Array, version: KeyVersion, signal: AbortSignal): Promise<WrappedKey> {
    throwIfAborted(signal);
    const name = versionName(this.parse(version.keyId));
    const out = await this.api
      .encrypt(name, seed, envelopeHeader(version.keyId, 'opaque'), signal)
      .catch(async (err: unknown) => {
        throw await this.keyError(err, name, `Encrypt with ${name}`, signal);
      });
    if (out.name !== name) {
      // Never label a ciphertext with a version other than the one that made it.
      throw new KeyUnusableError(`Cloud KMS encrypted with ${out.name} instead of ${name}`);
    }
    return { keyId: version.keyId, payload: { scheme: 'opaque', blob: out.ciphertext } };
  }

  async unwrap(wrapped: WrappedKey, signal: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal);
    const ref = this.parse(wrapped.keyId);
    if (wrapped.payload.scheme !== 'opaque') throw new MalformedCiphertextError('not a Cloud KMS ciphertext');
    const key = cryptoKeyName(ref);
    return this.api
      .decrypt(key, wrapped.payload.blob, envelopeHeader(wrapped.keyId, 'opaque'), signal)
      .catch(async (err: unknown) => {
        const f = classifyFailure(err);
        if (f instanceof GcpCallFailure && f.code === Status.INVALID_ARGUMENT && !f.requestChecksumRefused) {
          throw new MalformedCiphertextError(
            'Cloud KMS could not decrypt: the ciphertext was altered, or is presented under another key_id or format',
          );
        }
        throw await this.keyError(f, versionName(ref), `Decrypt with ${key}`, signal);
      });
  }

  /** Cloud KMS requests sent, retried and throttled since start (BackendRequestStats), for /metrics. */
  backendRequestCounts(): BackendRequestCounts {
    const { attempts, retries, throttled } = this.api.stats;
    return { attempts, retries, throttled };
  }

  /** Key and call counters, for health details. */
  details(): Record<string, unknown> {
    return { key: cryptoKeyName(this.key), calls: this.api.stats };
  }

  close(): Promise<void> {
    return this.api.close();
  }

  private parse(keyId: KeyId): VersionRef {
    const ref = parseGcpKeyId(keyId);
    if (!ref) throw new KeyVersionUnknownError(`key_id ${keyId} was not issued by the gcp backend`);
    return ref;
  }

  /**
   * Gives a failed Encrypt or Decrypt its precise meaning: Cloud KMS answers a disabled or
   * destroyed version with FAILED_PRECONDITION and a missing one with NOT_FOUND, so the
   * version is read once more and its state decides; the extra call happens only on this
   * failure path.
   */
  private async keyError(err: unknown, version: string, what: string, signal: AbortSignal): Promise<KmsError> {
    const f = classifyFailure(err);
    if (!(f instanceof GcpCallFailure) || f.kind !== 'final') return toKmsError(f, what);
    if (f.code !== Status.FAILED_PRECONDITION && f.code !== Status.NOT_FOUND) return toKmsError(f, what);
    const v = await this.api.getVersion(version, signal).catch((e: unknown) => classifyFailure(e));
    if (v instanceof GcpCallFailure && v.code === Status.NOT_FOUND) {
      return new KeyVersionUnknownError(`Cloud KMS key version ${version} does not exist`);
    }
    if (!(v instanceof Error)) {
      const problem = stateProblem(v);
      if (problem) return problem;
    }
    return toKmsError(f, what);
  }
}
