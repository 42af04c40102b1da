import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type SeenRequest, sendJson, startLoopbackHttps } from './fake-https.js';

/**
 * An in-process Delinea DevOps Secrets Vault (DSV) tenant, only its encryption-as-a-service
 * surface, over HTTPS on loopback with a CA made at test time. Written from the requests of
 * Delinea's open-source DSV CLI (github.com/DelineaXPM/dsv-cli, commands/encryption_auto.go:
 * `POST /v1/crypto/key/{path}` creates an auto key, `GET` reads its metadata, `POST
 * /v1/crypto/encrypt {path, plaintext, version}`, `POST /v1/crypto/decrypt {path, ciphertext,
 * version}` answering `{path, data, version}`, `POST /v1/crypto/rotate {path, ciphertext,
 * startingVersion, endingVersion}` "with a later or new version of the key") and the DSV API
 * token request (`POST /v1/token` with `{grant_type: "client_credentials", client_id,
 * client_secret}` answering `{accessToken, tokenType, expiresIn}`; DSV API reference,
 * https://docs.delinea.com/online-help/devops-secrets-vault/api-reference/index.htm).
 *
 * Inferred, not documented (docs/backends/delinea.md lists them): the encrypt and rotate answers
 * carry `{path, ciphertext, version}` (the CLI feeds a saved encrypt answer straight back as a
 * decrypt request); a rotate without `endingVersion` creates the next key version; versions are
 * consecutive integers from 1, sent as strings; error bodies are `{code, message}`; the
 * ciphertext format is the fake's own (base64 of nonce, AES-256-GCM ciphertext and tag).
 */
export interface FakeDsv {
  readonly url: string;
  readonly caFile: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly log: SeenRequest[];
  /** Latest version of a key, undefined when it does not exist (or is deleted). */
  latest(path: string): number | undefined;
  deleteKey(path: string): void;
  restoreKey(path: string): void;
  expireTokens(): void;
  failNext(n: number, status: number, opts?: { token?: boolean; retryAfterS?: number }): void;
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

interface AutoKey {
  versions: Buffer[];
  deleted: boolean;
  created: string;
}

export async function startFakeDsv(opts: { dir: string; tokenTtlS?: number }): Promise<FakeDsv> {
  const clientId = `client-${randomBytes(4).toString('hex')}`;
  const clientSecret = `dsv-${randomBytes(12).toString('hex')}`;
  const ttl = opts.tokenTtlS ?? 3_600;
  const keys = new Map<string, AutoKey>();
  const tokens = new Map<string, number>();
  let failures: { n: number; status: number; token: boolean; retryAfterS?: number } | undefined;
  const err = (res: ServerResponse, status: number, message: string) =>
    sendJson(res, status, { code: status, message });

  const seal = (key: Buffer, plaintext: Buffer): string => {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([c.update(plaintext), c.final()]);
    return Buffer.concat([iv, body, c.getAuthTag()]).toString('base64');
  };
  const open = (key: Buffer, ciphertext: string): Buffer | undefined => {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(ciphertext)) return undefined;
    const raw = Buffer.from(ciphertext, 'base64');
    // Canonical, padded base64 only: Node's decoder would accept a ciphertext with its padding cut
    // off, a strict decoder (Go's base64.StdEncoding) refuses it, and the fake must not be kinder
    // to a truncated ciphertext than DSV may be.
    if (raw.toString('base64') !== ciphertext) return undefined;
    if (raw.length < 29) return undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(raw.length - 16));
      return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
    } catch {
      return undefined;
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const path = new URL(req.url ?? '/', 'https://fake').pathname;
    const isToken = path === '/v1/token';
    if (failures && failures.n > 0 && (!isToken || failures.token)) {
      failures.n--;
      const headers: Record<string, string> =
        failures.retryAfterS !== undefined ? { 'retry-after': String(failures.retryAfterS) } : {};
      return sendJson(res, failures.status, { code: failures.status, message: 'injected failure' }, headers);
    }
    let body: Record<string, unknown> = {};
    if (raw) {
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return err(res, 400, 'request body is not JSON');
      }
    }
    if (isToken && req.method === 'POST') {
      if (body.grant_type !== 'client_credentials') return err(res, 400, 'unsupported grant_type');
      if (body.client_id !== clientId || body.client_secret !== clientSecret)
        return err(res, 401, 'invalid credentials');
      const token = randomBytes(24).toString('base64url');
      tokens.set(token, Date.now() + ttl * 1_000);
      return sendJson(res, 200, { accessToken: token, tokenType: 'bearer', expiresIn: ttl });
    }
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const until = bearer ? tokens.get(bearer) : undefined;
    if (until === undefined || until < Date.now()) return err(res, 401, 'unauthorized');

    const keyPath = /^\/v1\/crypto\/key\/(.+)$/.exec(path)?.[1];
    if (keyPath !== undefined) {
      const k = keys.get(keyPath);
      if (req.method === 'GET') {
        if (!k || k.deleted) return err(res, 404, 'key not found');
        return sendJson(res, 200, { path: keyPath, version: String(k.versions.length), created: k.created });
      }
      if (req.method === 'POST') {
        if (k) return err(res, 400, 'key already exists');
        const created = new Date().toISOString();
        keys.set(keyPath, { versions: [randomBytes(32)], deleted: false, created });
        return sendJson(res, 200, { path: keyPath, version: '1', created });
      }
      return err(res, 405, 'method not allowed');
    }
    if (req.method !== 'POST') return err(res, 405, 'method not allowed');
    const p = typeof body.path === 'string' ? body.path : '';
    const k = keys.get(p);
    if (!k || k.deleted) return err(res, 404, 'key not found');
    const versionOf = (v: unknown): number | 'bad' => {
      if (v === undefined || v === '') return k.versions.length;
      const n = typeof v === 'string' && /^\d{1,9}$/.test(v) ? Number(v) : Number.NaN;
      return n >= 1 && n <= k.versions.length ? n : 'bad';
    };
    if (path === '/v1/crypto/encrypt') {
      const v = versionOf(body.version);
      if (v === 'bad') return err(res, 400, 'unknown key version');
      if (typeof body.plaintext !== 'string' || body.plaintext === '') return err(res, 400, 'plaintext is required');
      const key = k.versions[v - 1] as Buffer;
      return sendJson(res, 200, {
        path: p,
        ciphertext: seal(key, Buffer.from(body.plaintext, 'utf8')),
        version: String(v),
      });
    }
    if (path === '/v1/crypto/decrypt') {
      const v = versionOf(body.version);
      if (v === 'bad') return err(res, 400, 'unknown key version');
      const data = typeof body.ciphertext === 'string' ? open(k.versions[v - 1] as Buffer, body.ciphertext) : undefined;
      if (!data) return err(res, 400, 'unable to decrypt');
      return sendJson(res, 200, { path: p, data: data.toString('utf8'), version: String(v) });
    }
    if (path === '/v1/crypto/rotate') {
      const from = versionOf(body.startingVersion);
      if (from === 'bad') return err(res, 400, 'unknown starting version');
      const data =
        typeof body.ciphertext === 'string' ? open(k.versions[from - 1] as Buffer, body.ciphertext) : undefined;
      if (!data) return err(res, 400, 'unable to decrypt');
      let to: number | 'bad';
      if (body.endingVersion === undefined || body.endingVersion === '') {
        k.versions.push(randomBytes(32));
        to = k.versions.length;
      } else to = versionOf(body.endingVersion);
      if (to === 'bad') return err(res, 400, 'unknown ending version');
      return sendJson(res, 200, { path: p, ciphertext: seal(k.versions[to - 1] as Buffer, data), version: String(to) });
    }
    return err(res, 404, 'no resource at this path');
  };

  const https = await startLoopbackHttps(opts.dir, handle);
  return {
    url: https.url,
    caFile: https.caFile,
    clientId,
    clientSecret,
    log: https.log,
    latest: (p) => {
      const k = keys.get(p);
      return k && !k.deleted ? k.versions.length : undefined;
    },
    deleteKey: (p) => {
      const k = keys.get(p);
      if (k) k.deleted = true;
    },
    restoreKey: (p) => {
      const k = keys.get(p);
      if (k) k.deleted = false;
    },
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
    down: () => https.down(),
    up: () => https.up(),
    stop: () => https.stop(),
  };
}
