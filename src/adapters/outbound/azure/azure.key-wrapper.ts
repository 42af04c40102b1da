import type { KeyProperties } from '@azure/keyvault-keys';
import {
  BackendMisconfiguredError,
  KeyVersionUnknownError,
  type KmsError,
  MalformedCiphertextError,
} from '../../../domain/model/errors.js';
import { envelopeHeader } from '../../../domain/model/envelope.js';
import type { KeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion, WrappedKey } from '../../../domain/model/key-version.js';
import { throwIfAborted } from '../../../domain/services/abortable.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { KeyWrapper } from '../../../ports/outbound/key-wrapper.port.js';
import type {
  BackendRequestCounts,
  BackendRequestStats,
  CredentialExpiry,
} from '../../../ports/outbound/metrics.port.js';
import { bindSeed, openBoundSeed } from './azure.binding.js';
import type { VaultApi } from './azure.client.js';
import type { ObservedCredential } from './azure.credentials.js';
import { AzureCallFailure, classifyFailure, toKmsError } from './azure.errors.js';
import { type AzureKeyRef, parseAzureKeyId } from './azure.key-id.js';
import { type AlgorithmCode, ALGORITHMS, assertWrapCapable, stateProblem, versionOfProperties } from './azure.keys.js';

/** The vault kleidi talks to: its URL and the form its host takes in key_ids. */
export interface VaultRef {
  readonly url: string;
  readonly part: string;
}

/** AES key wrap takes whole 64-bit blocks (RFC 3394); RSA-OAEP any length that fits. */
const BLOCK: Record<AlgorithmCode, number> = { 1: 1, 2: 8 };

/**
 * Data keys wrapped by Key Vault wrapKey/unwrapKey with the configured key's newest version
 * (RSA-OAEP-256, or A256KW for a Managed HSM oct-HSM key). The key_id names the vault, key and
 * version; the envelope header is bound inside the wrapped bytes (azure.binding.ts). The blob is
 * one algorithm byte followed by Key Vault's wrapped value. One Key Vault call per wrap or unwrap
 * (plus one key read the first time a process uses a version: CryptographyClient).
 */
export class AzureKeyWrapper implements KeyWrapper, CredentialExpiry, BackendRequestStats {
  readonly backend = 'azure';
  /** The algorithm of each version this process reported as current. */
  private readonly algorithms = new Map<string, AlgorithmCode>();

  constructor(
    private readonly api: VaultApi,
    private readonly vault: VaultRef,
    private readonly keyName: string,
    private readonly credential: ObservedCredential,
    private readonly clock: Clock,
  ) {}

  /** One key read (GET /keys/<name>): the newest version and its attributes. Never a wrap. */
  async currentVersion(signal: AbortSignal): Promise<KeyVersion> {
    throwIfAborted(signal);
    const key = await this.api.getKey(this.keyName, undefined, signal).catch(async (err: unknown) => {
      throw await this.currentError(err, signal);
    });
    const alg = assertWrapCapable(key, this.clock.now());
    const { ref, ...version } = versionOfProperties(key.properties);
    if (ref.vault !== this.vault.part) {
      throw new BackendMisconfiguredError(`Key Vault answered for ${ref.vault}, not ${this.vault.part}`);
    }
    if (this.algorithms.size > 256) this.algorithms.clear();
    this.algorithms.set(version.keyId, alg);
    this.api.prime(key);
    return version;
  }

  async wrap(seed: Uint8Array, version: KeyVersion, signal: AbortSignal): Promise<WrappedKey> {
    throwIfAborted(signal);
    const ref = this.parse(version.keyId);
    const alg = this.algorithms.get(version.keyId) ?? (await this.algorithmOf(ref, signal));
    const bound = bindSeed(seed, envelopeHeader(version.keyId, 'opaque'), BLOCK[alg]);
    const out = await this.api.wrapKey(this.kid(ref), ALGORITHMS[alg], bound, signal).catch(async (err: unknown) => {
      throw await this.keyError(err, ref, 'wrap', signal);
    });
    const blob = new Uint8Array(out.length + 1);
    blob[0] = alg;
    blob.set(out, 1);
    return { keyId: version.keyId, payload: { scheme: 'opaque', blob } };
  }

  async unwrap(wrapped: WrappedKey, signal: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal);
    const ref = this.parse(wrapped.keyId);
    if (wrapped.payload.scheme !== 'opaque') throw new MalformedCiphertextError('not an Azure Key Vault ciphertext');
    const blob = wrapped.payload.blob;
    const alg = blob[0] as AlgorithmCode | undefined;
    if (alg === undefined || !(alg in ALGORITHMS) || blob.length < 17) {
      throw new MalformedCiphertextError('not an Azure Key Vault ciphertext');
    }
    const bound = await this.api
      .unwrapKey(this.kid(ref), ALGORITHMS[alg], blob.subarray(1), signal)
      .catch(async (err: unknown) => {
        const f = classifyFailure(err);
        if (f instanceof AzureCallFailure && f.kind === 'final' && f.status === 400) {
          throw new MalformedCiphertextError(
            'Key Vault could not unwrap: the ciphertext was altered, or is presented under another key_id',
          );
        }
        throw await this.keyError(f, ref, 'unwrap', signal);
      });
    return openBoundSeed(bound, envelopeHeader(wrapped.keyId, 'opaque'));
  }

  credentialExpiresAt(): number | undefined {
    return this.credential.expiresAt();
  }

  backendRequestCounts(): BackendRequestCounts {
    const { attempts, retries, throttled } = this.api.stats;
    return { attempts, retries, throttled };
  }

  details(): Record<string, unknown> {
    return { vault: this.vault.url, key: this.keyName, calls: this.api.stats };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private parse(keyId: KeyId): AzureKeyRef {
    const ref = parseAzureKeyId(keyId);
    if (!ref) throw new KeyVersionUnknownError(`key_id ${keyId} was not issued by the azure backend`);
    if (ref.vault !== this.vault.part) {
      throw new KeyVersionUnknownError(
        `key_id ${keyId} names a key in ${ref.vault}, but kleidi uses ${this.vault.part}; set azure.vaultUrl to that vault`,
      );
    }
    return ref;
  }

  private kid(ref: AzureKeyRef): string {
    return `${this.vault.url}/keys/${ref.name}/${ref.version}`;
  }

  /** The algorithm of a version this process did not report as current (a wrap with an older version). */
  private async algorithmOf(ref: AzureKeyRef, signal: AbortSignal): Promise<AlgorithmCode> {
    const key = await this.api.getKey(ref.name, ref.version, signal).catch(async (err: unknown) => {
      throw await this.keyError(err, ref, 'wrap', signal);
    });
    return assertWrapCapable(key, this.clock.now());
  }

  /** Why GET /keys/<name> failed: no key (run kleidi init), no permission, or a disabled newest version. */
  private async currentError(err: unknown, signal: AbortSignal): Promise<KmsError> {
    const f = classifyFailure(err);
    if (f instanceof AzureCallFailure && f.kind === 'final' && f.status === 404) {
      return new BackendMisconfiguredError(
        `key ${this.keyName} does not exist in ${this.vault.url}: create it with \`kleidi init\` (needs Key Vault Crypto Officer) or az keyvault key create`,
      );
    }
    if (f instanceof AzureCallFailure && f.kind === 'final' && f.status === 403 && f.inner !== 'ForbiddenByRbac') {
      const newest = await this.properties(this.keyName, undefined, signal);
      const problem = newest && stateProblem(newest, this.clock.now(), 'wrap');
      if (problem) return problem;
    }
    return toKmsError(f, `get key ${this.keyName}`);
  }

  /**
   * Gives a failed wrap or unwrap its precise meaning. A 403 (or the SDK's own refusal of an
   * expired key) is read against the version's attributes from the versions list, which Key Vault
   * serves for disabled versions too: a disabled or expired version fails only the calls that
   * need it, with KeyUnusableError (FAILED_PRECONDITION), and a missing permission is a
   * misconfiguration. The extra call happens only on this failure path.
   */
  private async keyError(
    err: unknown,
    ref: AzureKeyRef,
    use: 'wrap' | 'unwrap',
    signal: AbortSignal,
  ): Promise<KmsError> {
    const f = classifyFailure(err);
    const what = `${use} with version ${ref.version} of key ${ref.name}`;
    if (!(f instanceof AzureCallFailure)) return f;
    if (f.kind === 'final' && f.status === 404) {
      return new KeyVersionUnknownError(
        `${what}: the key version does not exist in ${this.vault.url} (deleted or purged)`,
      );
    }
    if ((f.kind === 'final' && f.status === 403 && f.inner !== 'ForbiddenByRbac') || f.kind === 'local') {
      // The SDK caches a version's attributes in its CryptographyClient; read them afresh next time.
      this.api.forget(this.kid(ref));
      const p = await this.properties(ref.name, ref.version, signal);
      const problem = p && stateProblem(p, this.clock.now(), use, use === 'wrap' || f.kind === 'local');
      if (problem) return problem;
    }
    return toKmsError(f, what);
  }

  /** A version's properties from the versions list (undefined when it cannot be read). */
  private async properties(
    name: string,
    version: string | undefined,
    signal: AbortSignal,
  ): Promise<KeyProperties | undefined> {
    try {
      const all = await this.api.listVersions(name, signal);
      if (version) return all.find((p) => p.version?.toLowerCase() === version);
      return all.reduce<KeyProperties | undefined>(
        (a, b) => (a && (a.createdOn?.getTime() ?? 0) > (b.createdOn?.getTime() ?? 0) ? a : b),
        undefined,
      );
    } catch {
      return undefined;
    }
  }
}
