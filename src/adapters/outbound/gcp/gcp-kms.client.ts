import type { KeyManagementServiceClient, protos } from '@google-cloud/kms';
import { performance } from 'node:perf_hooks';
import { abortable, abortReason, throwIfAborted } from '../../../domain/services/abortable.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { backoffDelay, type BackoffPolicy } from '../shared/backoff.js';
import { crc32c } from './gcp-kms.crc32c.js';
import { classifyFailure, GcpCallFailure, integrityFailure } from './gcp-kms.errors.js';
import { sleep } from '../shared/sleep.js';

type ICryptoKey = protos.google.cloud.kms.v1.ICryptoKey;
type ICryptoKeyVersion = protos.google.cloud.kms.v1.ICryptoKeyVersion;
export type { ICryptoKey, ICryptoKeyVersion };

/** Budget and retries of one Cloud KMS call; the defaults fit kube-apiserver's 3 s KMS call deadline. */
export interface GcpCallSettings {
  /** gRPC deadline of one attempt. */
  readonly attemptTimeoutMs: number;
  /** All attempts of one call, backoff included, finish within this budget (and the caller's signal). */
  readonly callBudgetMs: number;
  readonly maxAttempts: number;
}

/** Below this much remaining budget, another attempt could not get an answer in time. */
const MIN_ATTEMPT_MS = 100;
/**
 * Pauses between attempts, exponential with full jitter, as Google's retry guidance asks
 * (https://cloud.google.com/kms/docs/retry-failed-requests): 0–50 ms after a lost answer,
 * 0–200 ms after RESOURCE_EXHAUSTED, doubling.
 */
const RETRY_PAUSES: Omit<BackoffPolicy, 'maxMs'> = { minMs: 50, jitter: 'full' };
const THROTTLED_PAUSES: Omit<BackoffPolicy, 'maxMs'> = { minMs: 200, jitter: 'full' };
/** ListCryptoKeyVersions page size (the API's maximum is 1000). */
const PAGE_SIZE = 1000;

/** Counters for health details and /metrics. */
export interface GcpCallStats {
  attempts: number;
  retries: number;
  throttled: number;
  integrityFailures: number;
}

type CallOptions = { timeout: number; retry: null };

/**
 * The Cloud KMS methods kleidi uses, on one KeyManagementServiceClient whose own retries are
 * off (`retry: null`): kleidi retries itself so every attempt has its own gRPC deadline, all
 * attempts fit the call budget and the caller's AbortSignal, RESOURCE_EXHAUSTED waits longer
 * than a lost answer, and a response that fails its CRC32C checks is retried like a lost one.
 * Encrypt and Decrypt send and check the integrity fields as Google documents them
 * (https://cloud.google.com/kms/docs/data-integrity-guidelines): a mismatch is never a success.
 */
export class KmsApi {
  readonly stats: GcpCallStats = { attempts: 0, retries: 0, throttled: 0, integrityFailures: 0 };

  constructor(
    private readonly kms: KeyManagementServiceClient,
    private readonly settings: GcpCallSettings,
    private readonly log: Logger,
  ) {}

  async getCryptoKey(name: string, signal: AbortSignal): Promise<ICryptoKey> {
    return this.call('GetCryptoKey', async (o) => (await this.kms.getCryptoKey({ name }, o))[0], signal);
  }

  async getVersion(name: string, signal: AbortSignal): Promise<ICryptoKeyVersion> {
    return this.call('GetCryptoKeyVersion', async (o) => (await this.kms.getCryptoKeyVersion({ name }, o))[0], signal);
  }

  /**
   * Encrypt with one named CryptoKeyVersion (never "the primary": the version is chosen by
   * the caller and checked in the answer). Sends the CRC32C of plaintext and AAD; the answer
   * must confirm both and carry the ciphertext's CRC32C.
   */
  async encrypt(
    version: string,
    plaintext: Uint8Array,
    aad: Uint8Array,
    signal: AbortSignal,
  ): Promise<{ name: string; ciphertext: Uint8Array }> {
    const request = {
      name: version,
      plaintext,
      additionalAuthenticatedData: aad,
      plaintextCrc32c: { value: crc32c(plaintext) },
      additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
    };
    return this.call(
      'Encrypt',
      async (o) => {
        const [out] = await this.kms.encrypt(request, o);
        if (!out.verifiedPlaintextCrc32c) throw this.integrity('Cloud KMS did not verify the plaintext CRC32C');
        if (!out.verifiedAdditionalAuthenticatedDataCrc32c) {
          throw this.integrity('Cloud KMS did not verify the AAD CRC32C');
        }
        const ciphertext = bytes(out.ciphertext);
        if (!out.name || ciphertext.length === 0)
          throw new GcpCallFailure(0, 'Encrypt returned no ciphertext', 'final');
        if (int64(out.ciphertextCrc32c?.value) !== crc32c(ciphertext)) {
          throw this.integrity('the ciphertext does not match its CRC32C');
        }
        return { name: out.name, ciphertext };
      },
      signal,
    );
  }

  /** Decrypt with a CryptoKey (Cloud KMS finds the version in the ciphertext), both ways CRC32C-checked. */
  async decrypt(key: string, ciphertext: Uint8Array, aad: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    const request = {
      name: key,
      ciphertext,
      additionalAuthenticatedData: aad,
      ciphertextCrc32c: { value: crc32c(ciphertext) },
      additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
    };
    return this.call(
      'Decrypt',
      async (o) => {
        const [out] = await this.kms.decrypt(request, o);
        const plaintext = bytes(out.plaintext);
        if (int64(out.plaintextCrc32c?.value) !== crc32c(plaintext)) {
          throw this.integrity('the plaintext does not match its CRC32C');
        }
        return plaintext;
      },
      signal,
    );
  }

  /** Creates a CryptoKey for ENCRYPT_DECRYPT with its first version. Not retried: a lost answer would be ambiguous. */
  async createCryptoKey(keyRing: string, id: string, signal: AbortSignal): Promise<ICryptoKey> {
    const request = {
      parent: keyRing,
      cryptoKeyId: id,
      cryptoKey: {
        purpose: 'ENCRYPT_DECRYPT' as const,
        versionTemplate: { algorithm: 'GOOGLE_SYMMETRIC_ENCRYPTION' as const },
        labels: { 'managed-by': 'kleidi' },
      },
    };
    return this.call('CreateCryptoKey', async (o) => (await this.kms.createCryptoKey(request, o))[0], signal, 1);
  }

  /** Adds a version to a key. Not retried: a lost answer to one that succeeded would add a second version. */
  async createVersion(key: string, signal: AbortSignal): Promise<ICryptoKeyVersion> {
    const request = { parent: key, cryptoKeyVersion: {} };
    return this.call(
      'CreateCryptoKeyVersion',
      async (o) => (await this.kms.createCryptoKeyVersion(request, o))[0],
      signal,
      1,
    );
  }

  async setPrimary(key: string, versionId: string, signal: AbortSignal): Promise<ICryptoKey> {
    const request = { name: key, cryptoKeyVersionId: versionId };
    return this.call(
      'UpdateCryptoKeyPrimaryVersion',
      async (o) => (await this.kms.updateCryptoKeyPrimaryVersion(request, o))[0],
      signal,
    );
  }

  /**
   * Sets a version's state to DISABLED (UpdateCryptoKeyVersion with update_mask `state`): Cloud
   * KMS refuses Encrypt and Decrypt with it until it is ENABLED again
   * (https://cloud.google.com/kms/docs/enable-disable). Needs cloudkms.cryptoKeyVersions.update.
   */
  async disableVersion(version: string, signal: AbortSignal): Promise<ICryptoKeyVersion> {
    const request = {
      cryptoKeyVersion: { name: version, state: 'DISABLED' as const },
      updateMask: { paths: ['state'] },
    };
    return this.call(
      'UpdateCryptoKeyVersion',
      async (o) => (await this.kms.updateCryptoKeyVersion(request, o))[0],
      signal,
    );
  }

  /** Every version of a key, following pagination. */
  async listVersions(key: string, signal: AbortSignal): Promise<ICryptoKeyVersion[]> {
    const out: ICryptoKeyVersion[] = [];
    let pageToken = '';
    do {
      const request = { parent: key, pageSize: PAGE_SIZE, pageToken };
      const page = await this.call(
        'ListCryptoKeyVersions',
        async (o) => (await this.kms.listCryptoKeyVersions(request, { ...o, autoPaginate: false }))[2],
        signal,
      );
      out.push(...(page?.cryptoKeyVersions ?? []));
      pageToken = page?.nextPageToken ?? '';
    } while (pageToken);
    return out;
  }

  close(): Promise<void> {
    return this.kms.close();
  }

  private integrity(what: string): GcpCallFailure {
    this.stats.integrityFailures++;
    return integrityFailure(what);
  }

  /** One Cloud KMS call: attempts with gRPC deadlines and backoff, inside the budget and `signal`. */
  private async call<T>(
    op: string,
    send: (options: CallOptions) => Promise<T>,
    signal: AbortSignal,
    maxAttempts = this.settings.maxAttempts,
  ): Promise<T> {
    throwIfAborted(signal);
    // The budget runs on the monotonic clock: setting the wall clock must not end or stretch it.
    const now = () => performance.now();
    const deadline = now() + this.settings.callBudgetMs;
    for (let attempt = 1; ; attempt++) {
      const timeout = Math.max(1, Math.floor(Math.min(this.settings.attemptTimeoutMs, deadline - now())));
      this.stats.attempts++;
      let failure: GcpCallFailure;
      try {
        // abortable: the client's promise cannot be cancelled; the attempt's deadline ends it.
        return await abortable(send({ timeout, retry: null }), signal);
      } catch (err) {
        if (signal.aborted) throw abortReason(signal);
        const f = classifyFailure(err);
        if (!(f instanceof GcpCallFailure)) throw f;
        failure = f;
      }
      if (failure.kind === 'throttled') this.stats.throttled++;
      const retry = attempt < maxAttempts && failure.kind !== 'final';
      const pauses = failure.kind === 'throttled' ? THROTTLED_PAUSES : RETRY_PAUSES;
      const pause = backoffDelay({ ...pauses, maxMs: this.settings.callBudgetMs }, attempt - 1);
      if (!retry || deadline - now() - pause < MIN_ATTEMPT_MS) throw failure;
      this.stats.retries++;
      this.log.debug({ op, code: failure.codeName, attempt }, 'retrying Cloud KMS request');
      if (pause > 0) await abortable(sleep(pause), signal);
    }
  }
}

/** An Int64Value's value as the client decodes it (number, string or Long); NaN when absent. */
function int64(v: unknown): number {
  if (v === undefined || v === null) return Number.NaN;
  return Number(typeof v === 'object' ? String(v) : v);
}

/** Bytes as a plain Uint8Array (the client hands out Buffers, possibly views of a larger pool). */
function bytes(v: Uint8Array | string | null | undefined): Uint8Array {
  if (v === undefined || v === null) return new Uint8Array();
  return Uint8Array.from(typeof v === 'string' ? Buffer.from(v, 'base64') : v);
}
