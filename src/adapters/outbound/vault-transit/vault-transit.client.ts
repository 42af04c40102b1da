import type { Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import nodeVault from 'node-vault';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { abortable, throwIfAborted } from '../../../domain/services/abortable.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { backoffDelay, type BackoffPolicy } from '../shared/backoff.js';
import { buildAgent, type VaultTlsSettings } from './vault-transit.agent.js';
import { classifyFailure, isRetryable, VaultCallFailure } from './vault-transit.errors.js';
import { vaultTransport } from './vault-transit.transport.js';
import { sleep } from '../shared/sleep.js';

/** Connection and retry settings; the defaults fit kube-apiserver's 3 s KMS call deadline. */
export interface VaultClientSettings {
  readonly address: string;
  /** Enterprise / OpenBao namespace, sent as X-Vault-Namespace on every request. */
  readonly namespace?: string;
  readonly tls: VaultTlsSettings;
  /** Upper bound for one HTTP attempt. */
  readonly attemptTimeoutMs: number;
  /** All attempts of one call, backoff included, finish within this budget. */
  readonly callBudgetMs: number;
  readonly maxAttempts: number;
}

export interface VaultRequest {
  readonly method: 'GET' | 'POST';
  /** Path below /v1/, e.g. "transit/encrypt/kleidi"; any mount works (node-vault's transit helpers hard-code /transit). */
  readonly path: string;
  readonly body?: Record<string, unknown>;
  /** Omitted for logins. */
  readonly token?: string;
  /** False for writes that must not be repeated blindly, such as a key rotation. */
  readonly idempotent?: boolean;
}

/** Below this much remaining budget, another attempt could not get an answer in time. */
const MIN_ATTEMPT_MS = 100;
/** Pauses between attempts: 0–50 ms after the first failure, doubling ("full jitter"). */
const RETRY_PAUSES: Omit<BackoffPolicy, 'maxMs'> = { minMs: 50, jitter: 'full' };

/**
 * node-vault checks every request's options against the schema
 * `{ path: string, method: string, both required }` with tv4, a general JSON
 * Schema validator, and rejects with `tv4.error` when they do not match
 * (`client.request`, https://github.com/nodevault/node-vault/blob/v0.12.0/src/index.js).
 * Its `tv4` option replaces the validator; this one makes the same check
 * without the general machinery, which cost about 1.5 % of the process's CPU
 * under load (docs/benchmarks.md, 7.). kleidi only calls `read` and `write`,
 * which validate nothing else.
 */
const requestShape = {
  error: null as Error | null,
  validate(options: { readonly path?: unknown; readonly method?: unknown }): boolean {
    const ok = typeof options.path === 'string' && typeof options.method === 'string';
    requestShape.error = ok ? null : new Error('Vault request needs a string path and method');
    return ok;
  },
};

/**
 * node-vault behind a small typed surface: generic reads and writes, our own
 * keep-alive agent, per-attempt timeouts and bounded retries inside the
 * caller's signal and the call budget. Returns Vault's JSON body as `unknown`;
 * callers parse it into typed shapes (vault-transit.responses.ts).
 */
export class VaultTransitClient {
  private constructor(
    private readonly vault: nodeVault.client,
    private agent: Agent,
    private readonly settings: VaultClientSettings,
    private readonly url: URL,
    private readonly log: Logger,
  ) {}

  static async open(settings: VaultClientSettings, log: Logger): Promise<VaultTransitClient> {
    let url: URL;
    try {
      url = new URL(settings.address);
    } catch (cause) {
      throw new BackendMisconfiguredError(`Vault address ${JSON.stringify(settings.address)} is not a URL`, { cause });
    }
    // SECURITY: node-vault's `debug` logger prints request bodies (seeds, secret_ids) when
    // DEBUG=node-vault is set; it gets a no-op instead.
    // SECURITY: requests go through kleidi's own transport (no redirects, no proxy from the
    // environment, the configured origin only; vault-transit.transport.ts), not node-vault's axios.
    const vault = nodeVault({
      endpoint: url.origin,
      apiVersion: 'v1',
      debug: () => undefined,
      // node-vault's typings declare `tv4` as a function; the code uses its `validate` and `error`.
      tv4: requestShape as unknown as NonNullable<nodeVault.VaultOptions['tv4']>,
      'request-promise': vaultTransport(url.origin),
    });
    // node-vault falls back to VAULT_TOKEN / VAULT_NAMESPACE / VAULT_PREFIX from the environment
    // (VAULT_PREFIX is put in front of every path); kleidi's configuration is the only source, and
    // the token travels per request.
    vault.token = '';
    (vault as { namespace?: string }).namespace = settings.namespace ?? '';
    (vault as { pathPrefix?: string }).pathPrefix = '';
    return new VaultTransitClient(vault, await buildAgent(url, settings.tls), settings, url, log);
  }

  /** Re-reads the CA and client certificate files (TLS cert auth does this before each login). */
  async reloadTls(): Promise<void> {
    const next = await buildAgent(this.url, this.settings.tls);
    const previous = this.agent;
    this.agent = next;
    // Let requests still running on the old agent finish before its sockets are closed.
    setTimeout(() => previous.destroy(), this.settings.callBudgetMs).unref();
  }

  /** Sends one request, retrying transient failures while budget and signal allow. */
  async send(req: VaultRequest, signal: AbortSignal): Promise<unknown> {
    throwIfAborted(signal);
    // The budget runs on the monotonic clock: setting the wall clock must not end or stretch it.
    const now = () => performance.now();
    const deadline = now() + this.settings.callBudgetMs;
    const attempts = req.idempotent === false ? 1 : this.settings.maxAttempts;
    for (let attempt = 1; ; attempt++) {
      // The transport treats 0 as "no timeout", so never pass less than 1 ms.
      const timeout = Math.max(1, Math.min(this.settings.attemptTimeoutMs, deadline - now()));
      try {
        return await abortable(this.once(req, timeout), signal);
      } catch (err) {
        const f = classifyFailure(err);
        if (!(f instanceof VaultCallFailure)) throw f;
        const pause = backoffDelay({ ...RETRY_PAUSES, maxMs: this.settings.callBudgetMs }, attempt - 1);
        const retry = isRetryable(f) && attempt < attempts && deadline - now() - pause >= MIN_ATTEMPT_MS;
        if (!retry) throw f;
        this.log.debug({ path: req.path, status: f.status, detail: f.detail, attempt }, 'retrying Vault request');
        await abortable(sleep(pause), signal);
      }
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private async once(req: VaultRequest, timeout: number): Promise<unknown> {
    const options = { timeout, headers: req.token ? { 'X-Vault-Token': req.token } : {}, agent: this.agent };
    const body: unknown =
      req.method === 'GET'
        ? await this.vault.read(req.path, options)
        : await this.vault.write(req.path, req.body ?? {}, options);
    return body === '' ? undefined : body;
  }
}
