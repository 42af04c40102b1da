import type { TokenCredential } from '@azure/identity';
import {
  CryptographyClient,
  type CryptographyClientOptions,
  type KeyClient,
  type KeyProperties,
  type KeyVaultKey,
  type KeyWrapAlgorithm,
} from '@azure/keyvault-keys';
import { performance } from 'node:perf_hooks';
import { abortable, abortReason, throwIfAborted } from '../../../domain/services/abortable.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { backoffDelay, type BackoffPolicy } from '../shared/backoff.js';
import { AzureCallFailure, classifyFailure } from './azure.errors.js';
import { sleep } from '../shared/sleep.js';

/** Budget and retries of one Key Vault call; the defaults fit kube-apiserver's 3 s KMS call deadline. */
export interface AzureCallSettings {
  readonly attemptTimeoutMs: number;
  /** All attempts of one call, pauses included, finish within this budget (and the caller's signal). */
  readonly callBudgetMs: number;
  readonly maxAttempts: number;
}

/** Counters for health details and /metrics. */
export interface AzureCallStats {
  attempts: number;
  retries: number;
  throttled: number;
}

const MIN_ATTEMPT_MS = 100;
/** Full-jitter pauses (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/) when no Retry-After came. */
const RETRY_PAUSES: Omit<BackoffPolicy, 'maxMs'> = { minMs: 50, jitter: 'full' };
const THROTTLED_PAUSES: Omit<BackoffPolicy, 'maxMs'> = { minMs: 200, jitter: 'full' };
/** CryptographyClients kept, one per key version in use (each holds a pipeline and a challenge cache). */
const MAX_CRYPTO_CLIENTS = 64;

/**
 * The Key Vault operations kleidi uses, on SDK clients whose own retries are off
 * (retryOptions.maxRetries 0): kleidi retries itself so every attempt is bounded, all attempts
 * fit the call budget and the caller's AbortSignal, and a 429's Retry-After is honoured when it
 * fits (https://learn.microsoft.com/en-us/azure/key-vault/general/overview-throttling) and
 * answered at once with the throttling error when it does not.
 */
export class VaultApi {
  readonly stats: AzureCallStats = { attempts: 0, retries: 0, throttled: 0 };
  private readonly crypto = new Map<string, CryptographyClient>();

  constructor(
    private readonly keys: KeyClient,
    private readonly credential: TokenCredential,
    private readonly cryptoOptions: CryptographyClientOptions,
    private readonly settings: AzureCallSettings,
    private readonly log: Logger,
  ) {}

  getKey(name: string, version: string | undefined, signal: AbortSignal): Promise<KeyVaultKey> {
    return this.call('getKey', (o) => this.keys.getKey(name, { ...o, ...(version ? { version } : {}) }), signal);
  }

  /** Every version's properties, following nextLink. */
  listVersions(name: string, signal: AbortSignal): Promise<KeyProperties[]> {
    return this.call(
      'listVersions',
      async (o) => {
        const out: KeyProperties[] = [];
        for await (const p of this.keys.listPropertiesOfKeyVersions(name, o)) out.push(p);
        return out;
      },
      signal,
    );
  }

  /** Not retried: a lost answer to a create that succeeded would add a second version. */
  createKey(name: string, kty: string, keySize: number, signal: AbortSignal): Promise<KeyVaultKey> {
    return this.call(
      'createKey',
      (o) =>
        this.keys.createKey(name, kty, {
          ...o,
          keySize,
          keyOps: ['wrapKey', 'unwrapKey'],
          tags: { 'created-by': 'kleidi' },
        }),
      signal,
      1,
    );
  }

  /** Not retried, like createKey. */
  rotateKey(name: string, signal: AbortSignal): Promise<KeyVaultKey> {
    return this.call('rotateKey', (o) => this.keys.rotateKey(name, o), signal, 1);
  }

  /**
   * Disables one key version (Update Key, `PATCH /keys/{name}/{version}` with
   * `attributes.enabled = false`): Key Vault refuses every operation with it until it is enabled
   * again (https://learn.microsoft.com/en-us/rest/api/keyvault/keys/update-key/update-key). Needs
   * the keys/update permission (Key Vault Crypto Officer). Idempotent, so retried like a read.
   */
  disableVersion(name: string, version: string, signal: AbortSignal): Promise<KeyVaultKey> {
    return this.call(
      'updateKeyProperties',
      (o) => this.keys.updateKeyProperties(name, version, { ...o, enabled: false }),
      signal,
    );
  }

  async wrapKey(kid: string, alg: KeyWrapAlgorithm, value: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    const out = await this.call('wrapKey', (o) => this.cryptoFor(kid).wrapKey(alg, value, o), signal);
    return out.result;
  }

  async unwrapKey(kid: string, alg: KeyWrapAlgorithm, value: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    const out = await this.call('unwrapKey', (o) => this.cryptoFor(kid).unwrapKey(alg, value, o), signal);
    return out.result;
  }

  /**
   * Keeps a CryptographyClient for a version just read (currentVersion), built from the key
   * itself: the SDK then does not read the key again before the first wrap, and a burst of first
   * calls after a rotation does not send one key read each.
   */
  prime(key: KeyVaultKey): void {
    if (!key.id || this.crypto.has(key.id)) return;
    if (this.crypto.size >= MAX_CRYPTO_CLIENTS) this.crypto.clear();
    this.crypto.set(key.id, new CryptographyClient(key, this.credential, this.cryptoOptions));
  }

  /** Forgets the CryptographyClient of a version, so its key properties are read again. */
  forget(kid: string): void {
    this.crypto.delete(kid);
  }

  private cryptoFor(kid: string): CryptographyClient {
    let c = this.crypto.get(kid);
    if (!c) {
      if (this.crypto.size >= MAX_CRYPTO_CLIENTS) this.crypto.clear();
      c = new CryptographyClient(kid, this.credential, this.cryptoOptions);
      this.crypto.set(kid, c);
    }
    return c;
  }

  /** One call: attempts with per-attempt timeouts and pauses, inside the budget and `signal`. */
  private async call<T>(
    op: string,
    send: (o: { abortSignal: AbortSignal; requestOptions: { timeout: number } }) => Promise<T>,
    signal: AbortSignal,
    maxAttempts = this.settings.maxAttempts,
  ): Promise<T> {
    throwIfAborted(signal);
    const now = () => performance.now();
    const deadline = now() + this.settings.callBudgetMs;
    for (let attempt = 1; ; attempt++) {
      const timeout = Math.max(1, Math.floor(Math.min(this.settings.attemptTimeoutMs, deadline - now())));
      this.stats.attempts++;
      let failure: AzureCallFailure;
      try {
        return await this.attempt(send, signal, timeout);
      } catch (err) {
        const f = classifyFailure(err);
        if (!(f instanceof AzureCallFailure)) throw f;
        failure = f;
      }
      if (failure.kind === 'throttled') this.stats.throttled++;
      const retry = attempt < maxAttempts && (failure.kind === 'throttled' || failure.kind === 'transient');
      const pauses = failure.kind === 'throttled' ? THROTTLED_PAUSES : RETRY_PAUSES;
      const pause = failure.retryAfterMs ?? backoffDelay({ ...pauses, maxMs: this.settings.callBudgetMs }, attempt - 1);
      if (!retry || deadline - now() - pause < MIN_ATTEMPT_MS) throw failure;
      this.stats.retries++;
      this.log.debug({ op, code: failure.code, status: failure.status, attempt, pause }, 'retrying Key Vault request');
      if (pause > 0) await abortable(sleep(pause), signal);
    }
  }

  private async attempt<T>(
    send: (o: { abortSignal: AbortSignal; requestOptions: { timeout: number } }) => Promise<T>,
    signal: AbortSignal,
    timeoutMs: number,
  ): Promise<T> {
    const attemptSignal = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
    try {
      // abortable: the SDK does not watch the signal everywhere (token acquisition, paging).
      return await abortable(
        send({ abortSignal: attemptSignal, requestOptions: { timeout: timeoutMs } }),
        attemptSignal,
      );
    } catch (err) {
      if (signal.aborted) throw abortReason(signal);
      if (attemptSignal.aborted) {
        throw new AzureCallFailure('TimeoutError', undefined, `no answer within ${timeoutMs} ms`, 'transient');
      }
      throw err;
    }
  }
}
