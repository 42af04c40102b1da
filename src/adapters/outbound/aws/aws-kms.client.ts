import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EncryptCommand,
  type KeyMetadata,
  type KMSClient,
  ListAliasesCommand,
  ListKeyRotationsCommand,
  type RotationsListEntry,
  ScheduleKeyDeletionCommand,
  UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import { performance } from 'node:perf_hooks';
import { abortable, abortReason, throwIfAborted } from '../../../domain/services/abortable.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { backoffDelay, type BackoffPolicy } from '../shared/backoff.js';
import type { RefreshingCredentials } from './aws-kms.credentials.js';
import { AwsCallFailure, classifyFailure } from './aws-kms.errors.js';
import { sleep } from '../shared/sleep.js';

/** Budget and retries of one KMS call; the defaults fit kube-apiserver's 3 s KMS call deadline. */
export interface AwsCallSettings {
  /** Upper bound for one HTTP attempt. */
  readonly attemptTimeoutMs: number;
  /** All attempts of one call, backoff included, finish within this budget (and the caller's signal). */
  readonly callBudgetMs: number;
  readonly maxAttempts: number;
}

/** Below this much remaining budget, another attempt could not get an answer in time. */
const MIN_ATTEMPT_MS = 100;
/**
 * Pauses between attempts, with full jitter
 * (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/): 0–50 ms after a
 * lost answer, 0–200 ms after throttling, doubling; a throttled caller backs off harder while
 * still fitting a 3 s budget.
 */
const RETRY_PAUSES: Omit<BackoffPolicy, 'maxMs'> = { minMs: 50, jitter: 'full' };
const THROTTLED_PAUSES: Omit<BackoffPolicy, 'maxMs'> = { minMs: 200, jitter: 'full' };

/** One alias as ListAliases reports it. */
export interface AliasEntry {
  readonly name: string;
  readonly targetKeyId: string | undefined;
  /** When it was created or last moved, where KMS reports it. */
  readonly since?: Date;
}

/** Counters for health details; never labels with unbounded values. */
export interface AwsCallStats {
  attempts: number;
  retries: number;
  throttled: number;
  credentialRefreshes: number;
}

/**
 * The KMS operations kleidi uses, on one KMSClient whose own retries are off:
 * kleidi retries itself so every attempt is bounded by a per-attempt timeout,
 * all attempts fit the call budget and the caller's AbortSignal, throttling
 * waits longer than a lost connection, and a refused signature gets exactly
 * one retry with freshly fetched credentials. Rejects with a KmsError (the
 * caller's deadline) or an AwsCallFailure for the caller to interpret.
 */
export class KmsApi {
  readonly stats: AwsCallStats = { attempts: 0, retries: 0, throttled: 0, credentialRefreshes: 0 };

  constructor(
    private readonly kms: KMSClient,
    private readonly credentials: RefreshingCredentials,
    private readonly settings: AwsCallSettings,
    private readonly log: Logger,
  ) {}

  /** The Region the client talks to (resolved from config, env or profile). */
  region(): Promise<string> {
    return this.kms.config.region();
  }

  async describeKey(keyId: string, signal: AbortSignal): Promise<KeyMetadata> {
    const out = await this.call(
      'DescribeKey',
      (s) => this.kms.send(new DescribeKeyCommand({ KeyId: keyId }), s),
      signal,
    );
    if (!out.KeyMetadata)
      throw new AwsCallFailure('EmptyResponse', 200, 'DescribeKey returned no KeyMetadata', 'final');
    return out.KeyMetadata;
  }

  async encrypt(
    keyArn: string,
    plaintext: Uint8Array,
    context: Record<string, string>,
    signal: AbortSignal,
  ): Promise<{ keyArn: string; blob: Uint8Array }> {
    const input = { KeyId: keyArn, Plaintext: plaintext, EncryptionContext: context };
    const out = await this.call('Encrypt', (s) => this.kms.send(new EncryptCommand(input), s), signal);
    if (!out.CiphertextBlob || !out.KeyId) {
      throw new AwsCallFailure('EmptyResponse', 200, 'Encrypt returned no ciphertext', 'final');
    }
    return { keyArn: out.KeyId, blob: out.CiphertextBlob };
  }

  async decrypt(
    keyArn: string,
    blob: Uint8Array,
    context: Record<string, string>,
    signal: AbortSignal,
  ): Promise<{ keyArn: string; plaintext: Uint8Array }> {
    // KeyId names the key the envelope expects: KMS refuses a ciphertext made by any other key
    // (https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html, IncorrectKeyException).
    const input = {
      KeyId: keyArn,
      CiphertextBlob: blob,
      EncryptionContext: context,
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' as const,
    };
    const out = await this.call('Decrypt', (s) => this.kms.send(new DecryptCommand(input), s), signal);
    if (!out.Plaintext || !out.KeyId)
      throw new AwsCallFailure('EmptyResponse', 200, 'Decrypt returned no plaintext', 'final');
    return { keyArn: out.KeyId, plaintext: out.Plaintext };
  }

  async createKey(description: string, tags: Record<string, string>, signal: AbortSignal): Promise<KeyMetadata> {
    const input = {
      KeySpec: 'SYMMETRIC_DEFAULT' as const,
      KeyUsage: 'ENCRYPT_DECRYPT' as const,
      Description: description,
      Tags: Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
    };
    // Not retried: a lost answer to a CreateKey that succeeded would create a second key.
    const out = await this.call('CreateKey', (s) => this.kms.send(new CreateKeyCommand(input), s), signal, 1);
    if (!out.KeyMetadata) throw new AwsCallFailure('EmptyResponse', 200, 'CreateKey returned no KeyMetadata', 'final');
    return out.KeyMetadata;
  }

  async createAlias(alias: string, keyId: string, signal: AbortSignal): Promise<void> {
    const input = { AliasName: alias, TargetKeyId: keyId };
    await this.call('CreateAlias', (s) => this.kms.send(new CreateAliasCommand(input), s), signal);
  }

  async updateAlias(alias: string, keyId: string, signal: AbortSignal): Promise<void> {
    const input = { AliasName: alias, TargetKeyId: keyId };
    await this.call('UpdateAlias', (s) => this.kms.send(new UpdateAliasCommand(input), s), signal);
  }

  async deleteAlias(alias: string, signal: AbortSignal): Promise<void> {
    const input = { AliasName: alias };
    await this.call('DeleteAlias', (s) => this.kms.send(new DeleteAliasCommand(input), s), signal);
  }

  /**
   * Disables a key: KMS refuses every cryptographic operation with it until EnableKey
   * (https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKey.html). Idempotent.
   */
  async disableKey(keyId: string, signal: AbortSignal): Promise<void> {
    const input = { KeyId: keyId };
    await this.call('DisableKey', (s) => this.kms.send(new DisableKeyCommand(input), s), signal);
  }

  /** Schedules a key for deletion after `days` (7 to 30); it can be cancelled until then. */
  async scheduleKeyDeletion(keyId: string, days: number, signal: AbortSignal): Promise<void> {
    const input = { KeyId: keyId, PendingWindowInDays: days };
    await this.call('ScheduleKeyDeletion', (s) => this.kms.send(new ScheduleKeyDeletionCommand(input), s), signal);
  }

  /** Every alias of the account and Region, following pagination. */
  async listAliases(signal: AbortSignal): Promise<AliasEntry[]> {
    const out: AliasEntry[] = [];
    let marker: string | undefined;
    do {
      const input = { Limit: 100, ...(marker ? { Marker: marker } : {}) };
      const page = await this.call('ListAliases', (s) => this.kms.send(new ListAliasesCommand(input), s), signal);
      for (const a of page.Aliases ?? []) {
        if (!a.AliasName) continue;
        const since = a.LastUpdatedDate ?? a.CreationDate;
        out.push({ name: a.AliasName, targetKeyId: a.TargetKeyId, ...(since ? { since } : {}) });
      }
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    return out;
  }

  /** Every key material of a key, the first one included, following pagination. */
  async listKeyMaterials(keyArn: string, signal: AbortSignal): Promise<RotationsListEntry[]> {
    const out: RotationsListEntry[] = [];
    let marker: string | undefined;
    do {
      const input = {
        KeyId: keyArn,
        IncludeKeyMaterial: 'ALL_KEY_MATERIAL' as const,
        Limit: 100,
        ...(marker ? { Marker: marker } : {}),
      };
      const page = await this.call(
        'ListKeyRotations',
        (s) => this.kms.send(new ListKeyRotationsCommand(input), s),
        signal,
      );
      out.push(...(page.Rotations ?? []));
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    return out;
  }

  close(): void {
    this.kms.destroy();
  }

  /** One KMS call: attempts with per-attempt timeouts and backoff, inside the budget and `signal`. */
  private async call<T>(
    op: string,
    send: (options: { abortSignal: AbortSignal }) => Promise<T>,
    signal: AbortSignal,
    maxAttempts = this.settings.maxAttempts,
  ): Promise<T> {
    throwIfAborted(signal);
    // The budget runs on the monotonic clock: setting the wall clock must not end or stretch it.
    const now = () => performance.now();
    const deadline = now() + this.settings.callBudgetMs;
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      // Whole milliseconds: AbortSignal.timeout() refuses fractions, and the monotonic clock has them.
      const timeout = Math.max(1, Math.floor(Math.min(this.settings.attemptTimeoutMs, deadline - now())));
      this.stats.attempts++;
      let failure: AwsCallFailure;
      try {
        return await this.attempt(send, signal, timeout);
      } catch (err) {
        const f = classifyFailure(err);
        if (!(f instanceof AwsCallFailure)) throw f;
        failure = f;
      }
      if (failure.kind === 'throttled') this.stats.throttled++;
      let retry = attempt < maxAttempts && (failure.kind === 'throttled' || failure.kind === 'transient');
      if (failure.kind === 'credentials' && !refreshed) {
        // The session expired or was revoked early: one retry with new credentials, budget permitting.
        refreshed = true;
        this.stats.credentialRefreshes++;
        await abortable(this.credentials.forceRefresh(), signal).catch((err: unknown) => {
          const f = classifyFailure(err);
          throw f instanceof AwsCallFailure ? failure : f;
        });
        retry = true;
      }
      const pauses = failure.kind === 'throttled' ? THROTTLED_PAUSES : RETRY_PAUSES;
      const pause =
        failure.kind === 'credentials'
          ? 0
          : backoffDelay({ ...pauses, maxMs: this.settings.callBudgetMs }, attempt - 1);
      if (!retry || deadline - now() - pause < MIN_ATTEMPT_MS) throw failure;
      this.stats.retries++;
      this.log.debug({ op, code: failure.code, status: failure.status, attempt }, 'retrying KMS request');
      if (pause > 0) await abortable(sleep(pause), signal);
    }
  }

  private async attempt<T>(
    send: (options: { abortSignal: AbortSignal }) => Promise<T>,
    signal: AbortSignal,
    timeoutMs: number,
  ): Promise<T> {
    const attemptSignal = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
    try {
      // abortable: the SDK does not watch the signal while it waits for credentials.
      return await abortable(send({ abortSignal: attemptSignal }), attemptSignal);
    } catch (err) {
      if (signal.aborted) throw abortReason(signal);
      if (attemptSignal.aborted) {
        throw new AwsCallFailure('TimeoutError', undefined, `no answer within ${timeoutMs} ms`, 'transient');
      }
      throw err;
    }
  }
}
