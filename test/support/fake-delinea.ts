import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type SeenRequest, sendJson, startLoopbackHttps } from './fake-https.js';

/**
 * An in-process Delinea Secret Server over HTTPS on loopback, with a certificate authority
 * generated at test time (openssl), written from Delinea's public API documentation: the REST
 * API reference (https://docs.delinea.com/online-help/secret-server/api-scripting/rest-api/index.htm)
 * and the requests Delinea's
 * own Go SDK sends (github.com/DelineaXPM/tss-sdk-go, server/server.go, server/secret.go).
 *
 * Modelled:
 * - `POST /oauth2/token` (application/x-www-form-urlencoded): `grant_type=password` with
 *   username/password, or `grant_type=client_credentials` with client_id/client_secret;
 *   answers `{access_token, token_type: "bearer", expires_in, refresh_token}`; a wrong credential
 *   is `400 {"error": "invalid_grant"}` (RFC 6749 §5.2, the OAuth2 error body Secret Server uses).
 * - Bearer tokens expire after `tokenTtlS`; a missing, unknown or expired token is
 *   `401 {"errorCode": "API_AuthenticationFailed", "message": ...}`.
 * - `GET /api/v1/secrets/{id}`: the secret with `items[]` (`itemId, fieldId, fieldName, slug,
 *   itemValue, isFile, isPassword, isNotes`).
 * - `GET /api/v1/secrets/{id}/fields/{slug}`: the field value as a JSON string.
 * - `PUT /api/v1/secrets/{id}/fields/{slug}` with `{"value": ...}`: replaces it, answers the value.
 * - Unknown or deleted secret: `404 {"errorCode": "API_SecretNotFound", ...}`; a secret the
 *   account may not view: `403 {"errorCode": "API_AccessDenied", ...}`; unknown field slug: 404.
 * Faults: `down()`/`up()` (connections refused, listener re-opened on the same port),
 * `expireTokens()`, `deleteSecret()`, `setField()` (any text, e.g. a malformed ring entry),
 * `failNext(n, status)` (429/5xx answers, with Retry-After for 429/503), `deny()`.
 * Not modelled (docs/backends/delinea.md): secret templates, folders, permissions beyond one
 * deny flag, check-out, auditing, refresh_token grant, Platform (XPM) token endpoints.
 */
export interface FakeSecretServer {
  readonly url: string;
  readonly caFile: string;
  readonly username: string;
  readonly password: string;
  /** Requests seen, method and path only (never bodies). */
  readonly log: SeenRequest[];
  /** Creates a secret with an empty notes field; returns its id. */
  createSecret(name?: string): number;
  deleteSecret(id: number): void;
  restoreSecret(id: number): void;
  field(id: number, slug?: string): string | undefined;
  setField(id: number, value: string, slug?: string): void;
  /** Every token issued so far stops working (as if their lifetime had passed). */
  expireTokens(): void;
  /** The next `n` API requests (token endpoint included when `token`) answer `status`. */
  failNext(n: number, status: number, opts?: { token?: boolean; retryAfterS?: number }): void;
  deny(id: number, denied: boolean): void;
  /** Stops listening and drops connections: the server is down. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  tokenRequests(): number;
  stop(): Promise<void>;
}

interface Secret {
  id: number;
  name: string;
  deleted: boolean;
  denied: boolean;
  fields: Map<string, string>;
}

export interface FakeSecretServerOptions {
  readonly dir: string;
  readonly tokenTtlS?: number;
  readonly username?: string;
  readonly password?: string;
  /** Fixed port (for a restart on the same address); 0 picks one. */
  readonly port?: number;
}

export async function startFakeSecretServer(opts: FakeSecretServerOptions): Promise<FakeSecretServer> {
  const username = opts.username ?? 'kleidi-app';
  const password = opts.password ?? `pw-${randomBytes(12).toString('hex')}`;
  const ttl = opts.tokenTtlS ?? 1_200;
  const secrets = new Map<number, Secret>();
  const tokens = new Map<string, number>();
  let nextId = 1;
  let failures: { n: number; status: number; token: boolean; retryAfterS?: number } | undefined;
  let tokenCount = 0;

  const json = sendJson;
  const apiError = (res: ServerResponse, status: number, errorCode: string, message: string) =>
    json(res, status, { errorCode, message });

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const url = new URL(req.url ?? '/', 'https://fake');
    const path = url.pathname;
    const isToken = path === '/oauth2/token';
    if (failures && failures.n > 0 && (!isToken || failures.token)) {
      failures.n--;
      const f = failures;
      const headers: Record<string, string> =
        f.retryAfterS !== undefined ? { 'retry-after': String(f.retryAfterS) } : {};
      return json(res, f.status, { errorCode: 'API_ServiceUnavailable', message: 'injected failure' }, headers);
    }
    if (isToken && req.method === 'POST') {
      tokenCount++;
      const form = new URLSearchParams(raw);
      const grant = form.get('grant_type');
      const ok =
        (grant === 'password' && form.get('username') === username && form.get('password') === password) ||
        (grant === 'client_credentials' &&
          form.get('client_id') === username &&
          form.get('client_secret') === password);
      if (grant !== 'password' && grant !== 'client_credentials')
        return json(res, 400, { error: 'unsupported_grant_type' });
      if (!ok) return json(res, 400, { error: 'invalid_grant' });
      const token = randomBytes(24).toString('base64url');
      tokens.set(token, Date.now() + ttl * 1_000);
      return json(res, 200, {
        access_token: token,
        token_type: 'bearer',
        expires_in: ttl,
        refresh_token: randomBytes(24).toString('base64url'),
      });
    }
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const until = bearer ? tokens.get(bearer) : undefined;
    if (until === undefined || until < Date.now()) {
      return apiError(res, 401, 'API_AuthenticationFailed', 'Authentication failed or the access token has expired.');
    }
    const m = /^\/api\/v1\/secrets\/(\d+)(?:\/fields\/([^/]+))?$/.exec(path);
    if (!m?.[1]) return apiError(res, 404, 'API_NotFound', 'No resource at this path.');
    const secret = secrets.get(Number(m[1]));
    if (!secret || secret.deleted) return apiError(res, 404, 'API_SecretNotFound', 'Secret not found.');
    if (secret.denied) return apiError(res, 403, 'API_AccessDenied', 'Access denied.');
    const slug = m[2] ? decodeURIComponent(m[2]) : undefined;
    if (slug === undefined) {
      if (req.method !== 'GET') return apiError(res, 405, 'API_MethodNotAllowed', 'Method not allowed.');
      return json(res, 200, {
        id: secret.id,
        name: secret.name,
        secretTemplateId: 6003,
        folderId: -1,
        active: !secret.deleted,
        items: [...secret.fields].map(([s, v], i) => ({
          itemId: i + 1,
          fieldId: 100 + i,
          fieldName: s === 'notes' ? 'Notes' : s,
          slug: s,
          itemValue: v,
          isFile: false,
          isPassword: false,
          isNotes: s === 'notes',
        })),
      });
    }
    if (!secret.fields.has(slug)) return apiError(res, 404, 'API_FieldNotFound', 'Field not found.');
    if (req.method === 'GET') return json(res, 200, secret.fields.get(slug));
    if (req.method === 'PUT') {
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        return apiError(res, 400, 'API_InvalidRequest', 'The request body is not JSON.');
      }
      const value = (body as { value?: unknown } | null)?.value;
      if (typeof value !== 'string') return apiError(res, 400, 'API_InvalidRequest', 'value is required.');
      secret.fields.set(slug, value);
      return json(res, 200, value);
    }
    return apiError(res, 405, 'API_MethodNotAllowed', 'Method not allowed.');
  };

  const https = await startLoopbackHttps(opts.dir, handle, opts.port ?? 0);

  const get = (id: number): Secret => {
    const s = secrets.get(id);
    if (!s) throw new Error(`fake Secret Server: no secret ${id}`);
    return s;
  };
  return {
    url: https.url,
    caFile: https.caFile,
    username,
    password,
    log: https.log,
    createSecret(name = `kleidi-kek-${nextId}`) {
      const id = nextId++;
      secrets.set(id, { id, name, deleted: false, denied: false, fields: new Map([['notes', '']]) });
      return id;
    },
    deleteSecret: (id) => void (get(id).deleted = true),
    restoreSecret: (id) => void (get(id).deleted = false),
    field: (id, slug = 'notes') => secrets.get(id)?.fields.get(slug),
    setField: (id, value, slug = 'notes') => void get(id).fields.set(slug, value),
    expireTokens: () => {
      for (const t of tokens.keys()) tokens.set(t, 0);
    },
    failNext: (n, status, o = {}) => {
      failures = {
        n,
        status,
        token: o.token ?? false,
        ...(o.retryAfterS !== undefined ? { retryAfterS: o.retryAfterS } : {}),
      };
    },
    deny: (id, denied) => void (get(id).denied = denied),
    down: () => https.down(),
    up: () => https.up(),
    tokenRequests: () => tokenCount,
    stop: () => https.stop(),
  };
}
