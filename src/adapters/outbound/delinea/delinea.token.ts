import { BackendMisconfiguredError, type KmsError } from '../../../domain/model/errors.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { readSecretFile } from '../shared/secret-file.js';
import { DelineaCallFailure, errorCode } from './delinea.errors.js';
import type { DelineaHttp } from './delinea.http.js';

/**
 * How kleidi obtains a bearer token; the two products speak different dialects:
 * - `secret-server`: `POST {url}/oauth2/token`, form-encoded, answering
 *   `{access_token, token_type, expires_in}` (Secret Server REST API, "OAuth2 token",
 *   https://docs.delinea.com/online-help/secret-server/api-scripting/rest-api/index.htm; the same
 *   request as Delinea's tss-sdk-go, server/server.go getAccessToken). `grant` is `password`
 *   (an application account's username and password) or `client_credentials` (a Delinea
 *   Platform service user's client id and secret).
 * - `dsv`: `POST {url}/v1/token`, JSON `{grant_type: "client_credentials", client_id,
 *   client_secret}`, answering `{accessToken, tokenType, expiresIn}` (DevOps Secrets Vault API,
 *   "Authentication", https://docs.delinea.com/online-help/devops-secrets-vault/api-reference/index.htm).
 */
export interface TokenSettings {
  readonly dialect: 'secret-server' | 'dsv';
  readonly grant: 'password' | 'client_credentials';
  /** Username (password grant) or client id (client credentials). */
  readonly username: string;
  /** File holding the password or client secret (readSecretFile policy; Secret volumes followed). */
  readonly credentialFile: string;
  /** Token endpoint path below the URL (Secret Server only; DSV's is fixed). */
  readonly tokenPath: string;
}

/** Refresh this long before expiry (short-lived tokens: at four fifths of their lifetime). */
const REFRESH_MARGIN_MS = 60_000;
/** A token without a lifetime is used for at most this long (Secret Server's default is 20 min). */
const DEFAULT_TTL_S = 1_200;

interface Held {
  readonly token: string;
  readonly expiresAt: number;
  readonly refreshAt: number;
}

/**
 * Fetches, caches and refreshes the bearer token before it expires (one fetch in flight at a
 * time). A refused credential (400 invalid_grant or 401 at the token endpoint) is remembered with
 * the credential file's stamp: it is never sent again until the file changes, so a wrong secret
 * cannot lock the account or flood the server's audit log.
 */
export class TokenSource {
  private held: Held | undefined;
  private inflight: Promise<Held> | undefined;
  private refused: { stamp: string; error: KmsError } | undefined;
  fetches = 0;

  constructor(
    private readonly http: DelineaHttp,
    private readonly s: TokenSettings,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** A valid token; fetches one when none is held or the held one is due for refresh. */
  async token(signal: AbortSignal): Promise<string> {
    const h = this.held;
    if (h && this.clock.now() < h.refreshAt) return h.token;
    this.inflight ??= this.fetch(signal).finally(() => (this.inflight = undefined));
    return (await this.inflight).token;
  }

  /** Forgets `token` after the server refused it (expired or revoked early): the next call fetches. */
  invalidate(token: string): void {
    if (this.held?.token === token) this.held = undefined;
  }

  expiresAt(): number | undefined {
    return this.held?.expiresAt;
  }

  private async fetch(signal: AbortSignal): Promise<Held> {
    const secret = await readSecretFile(this.s.credentialFile, {
      what: 'Delinea credential file',
      followLinks: true,
      maxBytes: 64 * 1024,
    });
    if (this.refused && this.refused.stamp === secret.stamp) throw this.refused.error;
    const value = secret.text.trim();
    if (!value) throw new BackendMisconfiguredError(`the Delinea credential file ${this.s.credentialFile} is empty`);
    this.fetches++;
    const reply = await this.http.send(this.request(value), signal);
    if (reply.status === 400 || reply.status === 401) {
      const code = errorCode(reply.body) ?? String(reply.status);
      const error = new BackendMisconfiguredError(
        `Delinea refused kleidi's credentials (${reply.status}, ${code}); fix delinea.username or the credential file ` +
          `${this.s.credentialFile} (it is not sent again until the file changes)`,
      );
      this.refused = { stamp: secret.stamp, error };
      this.held = undefined;
      throw error;
    }
    if (reply.status !== 200)
      throw new DelineaCallFailure(reply.status, errorCode(reply.body) ?? 'token request failed');
    const grant = this.parse(reply.body);
    this.refused = undefined;
    const now = this.clock.now();
    const ttlMs = grant.expiresIn * 1_000;
    const held = {
      token: grant.token,
      expiresAt: now + ttlMs,
      // A minute before expiry; for a token that lives less than two minutes, at 4/5 of its lifetime.
      refreshAt: now + (ttlMs > 2 * REFRESH_MARGIN_MS ? ttlMs - REFRESH_MARGIN_MS : (ttlMs * 4) / 5),
    };
    this.held = held;
    this.log.debug({ expiresInS: grant.expiresIn }, 'Delinea token obtained');
    return held;
  }

  private request(secret: string) {
    if (this.s.dialect === 'dsv') {
      return {
        method: 'POST' as const,
        path: '/v1/token',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'client_credentials', client_id: this.s.username, client_secret: secret }),
      };
    }
    const form: Record<string, string> =
      this.s.grant === 'password'
        ? { grant_type: 'password', username: this.s.username, password: secret }
        : { grant_type: 'client_credentials', client_id: this.s.username, client_secret: secret };
    return {
      method: 'POST' as const,
      path: this.s.tokenPath,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    };
  }

  private parse(body: string): { token: string; expiresIn: number } {
    let doc: Record<string, unknown> = {};
    try {
      doc = JSON.parse(body) as Record<string, unknown>;
    } catch {
      throw new DelineaCallFailure(200, 'token response is not JSON');
    }
    const token = this.s.dialect === 'dsv' ? doc.accessToken : doc.access_token;
    const ttl = this.s.dialect === 'dsv' ? doc.expiresIn : doc.expires_in;
    if (typeof token !== 'string' || token.length === 0)
      throw new DelineaCallFailure(200, 'token response has no token');
    const expiresIn = typeof ttl === 'number' && Number.isFinite(ttl) && ttl > 0 ? ttl : DEFAULT_TTL_S;
    return { token, expiresIn };
  }
}
