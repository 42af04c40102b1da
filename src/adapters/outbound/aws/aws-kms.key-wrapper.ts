import {
  BackendMisconfiguredError,
  KeyUnusableError,
  KeyVersionUnknownError,
  type KmsError,
  MalformedCiphertextError,
} from '../../../domain/model/errors.js';
import type { KeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion, WrappedKey } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { KeyWrapper } from '../../../ports/outbound/key-wrapper.port.js';
import type {
  BackendRequestCounts,
  BackendRequestStats,
  CredentialExpiry,
} from '../../../ports/outbound/metrics.port.js';
import type { KmsApi } from './aws-kms.client.js';
import type { RefreshingCredentials } from './aws-kms.credentials.js';
import { AwsCallFailure, classifyFailure, toKmsError } from './aws-kms.errors.js';
import { arnForKeyId, encryptionContext, type ParsedAwsKeyId, parseAwsKeyId } from './aws-kms.key-id.js';
import { assertUsable, type KeyReference, stateProblem, versionOf } from './aws-kms.keys.js';

/** The materials seen for one key, and the newest of them. */
interface Materials {
  latest: string;
  readonly seen: Set<string>;
}

/**
 * Data keys wrapped by AWS KMS Encrypt/Decrypt with a symmetric encryption
 * key. The key_id names the key (and its current key material) that the
 * configured alias resolved to at the last refresh; Encrypt and Decrypt name
 * that key by ARN, never the alias, and bind the envelope header as
 * encryption context. The KMS ciphertext is kept verbatim as an opaque
 * envelope payload. One KMS call per wrap or unwrap.
 */
export class AwsKmsKeyWrapper implements KeyWrapper, CredentialExpiry, BackendRequestStats {
  readonly backend = 'aws';
  private readonly materials = new Map<string, Materials>();

  constructor(
    private readonly api: KmsApi,
    private readonly key: KeyReference,
    private readonly region: string,
    private readonly credentials: RefreshingCredentials,
  ) {}

  async currentVersion(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    const meta = await this.api.describeKey(this.key.input, signal).catch((err: unknown) => {
      throw this.describeError(err);
    });
    assertUsable(meta, this.key.input);
    return versionOf(meta, this.newestMaterial(meta.Arn, meta.CurrentKeyMaterialId));
  }

  async wrap(seed: Uint8Array, version: KeyVersion, signal: AbortSignal): Promise<WrappedKey> {
    throwIfAborted(signal);
    const arn = arnForKeyId(this.parse(version.keyId), this.region);
    const out = await this.api
      .encrypt(arn, seed, encryptionContext(version.keyId), signal)
      .catch(async (err: unknown) => {
        throw await this.keyError(err, arn, `Encrypt with ${arn}`, signal);
      });
    if (out.keyArn !== arn) {
      // Never label a ciphertext with a key other than the one that made it.
      throw new KeyUnusableError(`KMS encrypted with ${out.keyArn} instead of ${arn}`);
    }
    return { keyId: version.keyId, payload: { scheme: 'opaque', blob: out.blob } };
  }

  async unwrap(wrapped: WrappedKey, signal: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal);
    const arn = arnForKeyId(this.parse(wrapped.keyId), this.region);
    if (wrapped.payload.scheme !== 'opaque') throw new MalformedCiphertextError('not an AWS KMS ciphertext');
    const out = await this.api
      .decrypt(arn, wrapped.payload.blob, encryptionContext(wrapped.keyId), signal)
      .catch(async (err: unknown) => {
        const f = classifyFailure(err);
        if (f instanceof AwsCallFailure && isBadCiphertext(f)) {
          throw new MalformedCiphertextError(
            'KMS could not decrypt: the ciphertext was altered, or is presented under another key_id or format',
          );
        }
        throw await this.keyError(f, arn, `Decrypt with ${arn}`, signal);
      });
    if (out.keyArn !== arn) throw new MalformedCiphertextError(`KMS decrypted with ${out.keyArn} instead of ${arn}`);
    return out.plaintext;
  }

  credentialExpiresAt(): number | undefined {
    return this.credentials.expiresAt();
  }

  /** KMS requests sent, retried and throttled since start (BackendRequestStats), for /metrics. */
  backendRequestCounts(): BackendRequestCounts {
    const { attempts, retries, throttled } = this.api.stats;
    return { attempts, retries, throttled };
  }

  /** Region, key, credential expiry and call counters, for health details. */
  details(): Record<string, unknown> {
    return { region: this.region, key: this.key.input, credentials: this.credentials.state(), calls: this.api.stats };
  }

  close(): Promise<void> {
    this.api.close();
    return Promise.resolve();
  }

  private parse(keyId: KeyId): ParsedAwsKeyId {
    const p = parseAwsKeyId(keyId);
    if (!p) throw new KeyVersionUnknownError(`key_id ${keyId} was not issued by the aws backend`);
    if (p.region !== undefined && p.region !== this.region) {
      throw new KeyVersionUnknownError(
        `key_id ${keyId} names a KMS key in ${p.region}, but kleidi uses ${this.region}; set aws.region to ${p.region}`,
      );
    }
    return p;
  }

  /**
   * The material to report for a key: the newest one this process has seen.
   * KMS is eventually consistent, so right after a rotation one DescribeKey
   * may still name the previous material; going back would make key_id flap.
   * KMS never makes an older material current again.
   */
  private newestMaterial(arn: string | undefined, current: string | undefined): string | undefined {
    if (!arn || !current) return current;
    const m = this.materials.get(arn);
    if (!m) {
      this.materials.set(arn, { latest: current, seen: new Set([current]) });
      return current;
    }
    if (!m.seen.has(current)) {
      m.seen.add(current);
      m.latest = current;
    }
    return m.latest;
  }

  private describeError(err: unknown): KmsError {
    const f = classifyFailure(err);
    if (f instanceof AwsCallFailure && f.code === 'NotFoundException') {
      return new BackendMisconfiguredError(
        `${this.key.input} does not exist in AWS KMS (${this.region})${this.key.kind === 'alias' ? '; create it with `kleidi init`' : ''}`,
      );
    }
    return toKmsError(f, `DescribeKey ${this.key.input}`);
  }

  /**
   * Gives a failed Encrypt or Decrypt its precise meaning. KMS answers a
   * disabled, deleted or inaccessible key in several ways (DisabledException,
   * KMSInvalidStateException, NotFoundException, and AccessDeniedException
   * for a key that does not exist), so the key is described once more and its
   * state decides; the extra call happens only on this failure path.
   */
  private async keyError(err: unknown, arn: string, what: string, signal: AbortSignal): Promise<KmsError> {
    const f = classifyFailure(err);
    if (!(f instanceof AwsCallFailure) || f.kind !== 'final') return toKmsError(f, what);
    if (f.code === 'InvalidKeyUsageException') {
      return new BackendMisconfiguredError(`${what}: the key cannot encrypt and decrypt (${f.detail})`);
    }
    if (
      !['DisabledException', 'KMSInvalidStateException', 'NotFoundException', 'AccessDeniedException'].includes(f.code)
    ) {
      return toKmsError(f, what);
    }
    const meta = await this.api.describeKey(arn, signal).catch((e: unknown) => classifyFailure(e));
    if (meta instanceof AwsCallFailure && meta.code === 'NotFoundException') {
      return new KeyVersionUnknownError(`KMS key ${arn} does not exist (deleted, or another account or Region)`);
    }
    if (!(meta instanceof AwsCallFailure) && !(meta instanceof Error)) {
      const problem = stateProblem(meta);
      if (problem) return problem;
    }
    return toKmsError(f, what);
  }
}

/** Decrypt's answers for a ciphertext that is not what it claims (API_Decrypt errors). */
function isBadCiphertext(f: AwsCallFailure): boolean {
  return (
    f.kind === 'final' &&
    (f.code === 'InvalidCiphertextException' || f.code === 'IncorrectKeyException' || f.code === 'ValidationException')
  );
}
