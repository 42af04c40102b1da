import {
  constants,
  createCipheriv,
  createDecipheriv,
  generateKeyPair,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { promisify } from 'node:util';
import { azureTestCa } from './azure-test-ca.js';
import type { FakeEntraId } from './fake-entra-id.js';

/**
 * Azure built-in roles as the fake enforces them on keys
 * (https://learn.microsoft.com/en-us/azure/key-vault/general/rbac-guide#azure-built-in-roles-for-key-vault-data-plane-operations):
 * Key Vault Crypto User may read keys and use them (wrap, unwrap, encrypt, decrypt); Key Vault
 * Crypto Officer may also create, rotate and update them. Managed HSM has the same two local roles
 * (Managed HSM Crypto User / Crypto Officer).
 */
export type VaultRole = 'crypto-user' | 'crypto-officer';

type Permission = 'get' | 'list' | 'create' | 'rotate' | 'update' | 'wrapKey' | 'unwrapKey';
const USER_PERMISSIONS: ReadonlySet<Permission> = new Set(['get', 'list', 'wrapKey', 'unwrapKey']);

/** One key version as the fake holds it. */
interface StoredVersion {
  readonly version: string;
  readonly kty: string;
  readonly keySize: number;
  readonly keyOps: string[];
  readonly created: number;
  updated: number;
  enabled: boolean;
  exp?: number;
  nbf?: number;
  tags: Record<string, string>;
  readonly privateKey?: KeyObject;
  readonly publicKey?: KeyObject;
  readonly secret?: Buffer;
}

/** Faults the tests switch on; each applies to the Key Vault data plane only. */
interface VaultFaults {
  /** Answers this many next requests with 429 and Retry-After (seconds). */
  throttle: { count: number; retryAfterSeconds: number };
  /** Fraction (0..1) of requests answered with 429, for storms. */
  throttleFraction: number;
  /** Delay before every answer, in ms. */
  delayMs: number;
  /** While true, connections are reset as they arrive (the server is down). */
  down: boolean;
}

interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly apiVersion: string | null;
  readonly status: number;
}

export interface FakeKeyVault {
  /** The vault URL to configure, e.g. https://127.0.0.1:40123 */
  readonly url: string;
  readonly kind: 'vault' | 'managedhsm';
  /** The resource named in the challenge (the token audience). */
  readonly resource: string;
  readonly faults: VaultFaults;
  readonly requests: RecordedRequest[];
  /** Gives an application (client id) a role on every key. */
  grant(clientId: string, role: VaultRole): void;
  revoke(clientId: string): void;
  /** Versions of a key, oldest first. */
  versions(name: string): readonly { version: string; enabled: boolean; exp?: number; nbf?: number }[];
  /** Changes a version's attributes as an operator would (portal, az keyvault key set-attributes). */
  setAttributes(
    name: string,
    version: string,
    a: { enabled?: boolean; exp?: number | null; nbf?: number | null },
  ): void;
  /** Creates a key version directly (an operator's `az keyvault key create`). */
  createKey(name: string, kty: string, keySize?: number): Promise<string>;
  close(): Promise<void>;
}

const RSA_TYPES = new Set(['RSA', 'RSA-HSM']);
const ALL_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'];
const AES_KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
const generateRsa = promisify(generateKeyPair);

/** A Key Vault error answer: https://learn.microsoft.com/en-us/rest/api/keyvault/keys/get-key/get-key#keyvaulterror */
class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly inner?: string,
  ) {
    super(message);
  }
}

/**
 * A protocol-faithful Azure Key Vault (or Managed HSM) keys data plane on loopback, for the real
 * @azure/keyvault-keys SDK: HTTPS with the test CA; challenge-based authentication (an
 * unauthenticated request gets 401 with `WWW-Authenticate: Bearer authorization="<authority>/<tenant>",
 * resource="<resource>"`, https://learn.microsoft.com/en-us/azure/key-vault/general/authentication-requests-and-responses#authentication);
 * bearer tokens from the fake Entra ID checked for signature, expiry and audience; RBAC roles;
 * keys with versions and attributes (enabled, exp, nbf); get, versions, create, rotate, update,
 * wrapKey and unwrapKey with real RSA-OAEP(-256) and AES key wrap (RFC 3394) through node:crypto;
 * the documented error body `{"error":{"code","message","innererror"}}`; and faults: 429 with
 * Retry-After, delays and resets. REST reference: https://learn.microsoft.com/en-us/rest/api/keyvault/keys
 * (api-version 7.4 and later, including the date-named versions the SDK sends).
 */
export async function startFakeKeyVault(
  entra: FakeEntraId,
  opts: { kind?: 'vault' | 'managedhsm' } = {},
): Promise<FakeKeyVault> {
  const kind = opts.kind ?? 'vault';
  const resource = kind === 'vault' ? 'https://vault.azure.net' : 'https://managedhsm.azure.net';
  const ca = azureTestCa();
  const keys = new Map<string, StoredVersion[]>();
  const roles = new Map<string, VaultRole>();
  const sockets = new Set<Socket>();
  const faults: VaultFaults = {
    throttle: { count: 0, retryAfterSeconds: 1 },
    delayMs: 0,
    down: false,
    throttleFraction: 0,
  };
  const requests: RecordedRequest[] = [];
  let url = '';

  const now = () => Math.floor(Date.now() / 1000);

  async function newVersion(
    kty: string,
    keySize: number | undefined,
    keyOps: string[] | undefined,
    attrs?: Attrs,
    tags?: Record<string, string>,
  ): Promise<StoredVersion> {
    const allowed = kind === 'vault' ? ['RSA', 'RSA-HSM', 'EC', 'EC-HSM'] : ['RSA-HSM', 'EC-HSM', 'oct-HSM'];
    if (!allowed.includes(kty)) {
      throw new VaultError(
        400,
        'BadParameter',
        `Key type ${kty} is not supported by this ${kind === 'vault' ? 'key vault' : 'managed HSM'}.`,
      );
    }
    const base = {
      version: randomBytes(16).toString('hex'),
      kty,
      keyOps: keyOps ?? ALL_OPS,
      created: now(),
      updated: now(),
      enabled: attrs?.enabled ?? true,
      tags: tags ?? {},
    };
    const dates = { ...(attrs?.exp ? { exp: attrs.exp } : {}), ...(attrs?.nbf ? { nbf: attrs.nbf } : {}) };
    if (RSA_TYPES.has(kty)) {
      const size = keySize ?? 2048;
      if (![2048, 3072, 4096].includes(size))
        throw new VaultError(400, 'BadParameter', `RSA key size ${size} is not supported.`);
      const { privateKey, publicKey } = await generateRsa('rsa', { modulusLength: size });
      return { ...base, ...dates, keySize: size, privateKey, publicKey };
    }
    if (kty === 'oct-HSM') {
      const size = keySize ?? 256;
      if (![128, 192, 256].includes(size))
        throw new VaultError(400, 'BadParameter', `AES key size ${size} is not supported.`);
      return { ...base, ...dates, keySize: size, secret: randomBytes(size / 8) };
    }
    // EC keys exist so a key of the wrong type can be configured; they cannot wrap.
    return { ...base, ...dates, keySize: 256 };
  }

  function bundle(name: string, v: StoredVersion) {
    const kid = `${url}/keys/${name}/${v.version}`;
    const jwk: Record<string, unknown> = { kid, kty: v.kty, key_ops: v.keyOps };
    if (v.publicKey) {
      const pub = v.publicKey.export({ format: 'jwk' });
      jwk.n = pub.n;
      jwk.e = pub.e;
    }
    if (v.kty.startsWith('EC')) jwk.crv = 'P-256';
    return { key: jwk, attributes: attributes(v), ...(Object.keys(v.tags).length ? { tags: v.tags } : {}) };
  }

  function attributes(v: StoredVersion) {
    return {
      enabled: v.enabled,
      ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
      ...(v.exp !== undefined ? { exp: v.exp } : {}),
      created: v.created,
      updated: v.updated,
      recoveryLevel: 'Recoverable+Purgeable',
      recoverableDays: 90,
      exportable: false,
    };
  }

  function find(name: string, version: string | undefined): StoredVersion {
    const list = keys.get(name);
    const v = version ? list?.find((x) => x.version === version) : list?.at(-1);
    if (!v) {
      throw new VaultError(
        404,
        'KeyNotFound',
        `A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command.`,
      );
    }
    return v;
  }

  function usable(v: StoredVersion, op: string, protect: boolean): void {
    if (!v.enabled)
      throw new VaultError(403, 'Forbidden', `Operation ${op} is not allowed on a disabled key.`, 'KeyDisabled');
    if (!protect) return;
    // exp and nbf restrict encrypt, wrapKey and sign; decrypt and unwrapKey stay allowed
    // (https://learn.microsoft.com/en-us/azure/key-vault/keys/about-keys-details#date-time-controlled-operations).
    if (v.exp !== undefined && v.exp <= now())
      throw new VaultError(403, 'Forbidden', `Operation ${op} is not allowed on an expired key.`, 'KeyExpired');
    if (v.nbf !== undefined && v.nbf > now())
      throw new VaultError(
        403,
        'Forbidden',
        `Operation ${op} is not allowed on a key that is not yet valid.`,
        'KeyNotYetValid',
      );
  }

  function wrap(v: StoredVersion, alg: string, value: Buffer): Buffer {
    if (!v.keyOps.includes('wrapKey'))
      throw new VaultError(403, 'Forbidden', 'Operation wrapKey is not permitted on this key.', 'OperationNotAllowed');
    if (v.publicKey && (alg === 'RSA-OAEP-256' || alg === 'RSA-OAEP')) {
      return publicEncrypt(
        {
          key: v.publicKey,
          padding: constants.RSA_PKCS1_OAEP_PADDING,
          oaepHash: alg === 'RSA-OAEP' ? 'sha1' : 'sha256',
        },
        value,
      );
    }
    if (v.secret && alg === `A${v.keySize}KW`) {
      if (value.length < 16 || value.length % 8 !== 0)
        throw new VaultError(400, 'BadParameter', 'The key to wrap must be a multiple of 8 bytes, at least 16.');
      const c = createCipheriv(`id-aes${v.keySize}-wrap`, v.secret, AES_KW_IV);
      return Buffer.concat([c.update(value), c.final()]);
    }
    throw new VaultError(400, 'BadParameter', `Algorithm ${alg} is not supported for key type ${v.kty}.`);
  }

  function unwrap(v: StoredVersion, alg: string, value: Buffer): Buffer {
    if (!v.keyOps.includes('unwrapKey'))
      throw new VaultError(
        403,
        'Forbidden',
        'Operation unwrapKey is not permitted on this key.',
        'OperationNotAllowed',
      );
    try {
      if (v.privateKey && (alg === 'RSA-OAEP-256' || alg === 'RSA-OAEP')) {
        return privateDecrypt(
          {
            key: v.privateKey,
            padding: constants.RSA_PKCS1_OAEP_PADDING,
            oaepHash: alg === 'RSA-OAEP' ? 'sha1' : 'sha256',
          },
          value,
        );
      }
      if (v.secret && alg === `A${v.keySize}KW`) {
        const d = createDecipheriv(`id-aes${v.keySize}-wrap`, v.secret, AES_KW_IV);
        return Buffer.concat([d.update(value), d.final()]);
      }
    } catch {
      throw new VaultError(
        400,
        'BadParameter',
        'Error occurred while unwrapping the key: the value could not be decrypted.',
      );
    }
    throw new VaultError(400, 'BadParameter', `Algorithm ${alg} is not supported for key type ${v.kty}.`);
  }

  type Attrs = { enabled?: boolean; exp?: number; nbf?: number };

  async function route(
    method: string,
    path: string,
    q: URLSearchParams,
    body: Record<string, unknown>,
    can: (p: Permission) => void,
  ): Promise<[number, unknown]> {
    const m = /^\/keys\/([0-9A-Za-z-]{1,127})(?:\/([^/]*))?(?:\/([a-z]+))?$/.exec(path);
    if (!m) throw new VaultError(404, 'NotFound', `${method} ${path} is not an operation of this fake Key Vault.`);
    const [, name = '', second, third] = m;
    if (method === 'POST' && second === 'create' && third === undefined) {
      can('create');
      const kty = String(body.kty ?? '');
      const attrs = (body.attributes ?? {}) as Attrs;
      const v = await newVersion(
        kty,
        body.key_size as number | undefined,
        body.key_ops as string[] | undefined,
        attrs,
        body.tags as Record<string, string> | undefined,
      );
      keys.set(name, [...(keys.get(name) ?? []), v]);
      return [200, bundle(name, v)];
    }
    if (method === 'POST' && second === 'rotate' && third === undefined) {
      can('rotate');
      const latest = find(name, undefined);
      const v = await newVersion(latest.kty, latest.keySize, latest.keyOps, undefined, latest.tags);
      keys.get(name)?.push(v);
      return [200, bundle(name, v)];
    }
    if (method === 'GET' && second === 'versions' && third === undefined) {
      can('list');
      const list = keys.get(name);
      if (!list)
        throw new VaultError(404, 'KeyNotFound', `A key with (name/id) ${name} was not found in this key vault.`);
      const max = Math.min(25, Math.max(1, Number(q.get('maxresults') ?? 25)));
      const skip = Number(q.get('$skiptoken') ?? 0);
      const page = list.slice(skip, skip + max);
      const next =
        skip + max < list.length
          ? `${url}/keys/${name}/versions?api-version=${q.get('api-version')}&maxresults=${max}&$skiptoken=${skip + max}`
          : null;
      return [
        200,
        {
          value: page.map((v) => ({
            kid: `${url}/keys/${name}/${v.version}`,
            attributes: attributes(v),
            ...(Object.keys(v.tags).length ? { tags: v.tags } : {}),
          })),
          nextLink: next,
        },
      ];
    }
    if (method === 'GET' && third === undefined) {
      can('get');
      const v = find(name, second || undefined);
      usable(v, 'get', false);
      return [200, bundle(name, v)];
    }
    if (method === 'PATCH' && third === undefined) {
      can('update');
      const v = find(name, second || undefined);
      const a = (body.attributes ?? {}) as Attrs;
      if (a.enabled !== undefined) v.enabled = a.enabled;
      if (a.exp !== undefined) v.exp = a.exp;
      if (a.nbf !== undefined) v.nbf = a.nbf;
      if (body.tags) v.tags = body.tags as Record<string, string>;
      v.updated = now();
      return [200, bundle(name, v)];
    }
    if (method === 'POST' && second && (third === 'wrapkey' || third === 'unwrapkey')) {
      const op = third === 'wrapkey' ? 'wrapKey' : 'unwrapKey';
      can(op);
      const v = find(name, second);
      usable(v, op, op === 'wrapKey');
      const alg = String(body.alg ?? '');
      if (typeof body.value !== 'string' || !alg)
        throw new VaultError(400, 'BadParameter', 'alg and value are required.');
      const value = Buffer.from(body.value, 'base64url');
      const out = op === 'wrapKey' ? wrap(v, alg, value) : unwrap(v, alg, value);
      return [200, { kid: `${url}/keys/${name}/${v.version}`, value: out.toString('base64url') }];
    }
    throw new VaultError(405, 'MethodNotAllowed', `${method} is not allowed on ${path}.`);
  }

  const challenge = () => `Bearer authorization="${entra.authorityHost}/${entra.tenantId}", resource="${resource}"`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The REST reference's own samples send `//keys/...`; the service takes it.
    const u = new URL((req.url ?? '/').replace(/^\/+/, '/'), url);
    const method = req.method ?? 'GET';
    const apiVersion = u.searchParams.get('api-version');
    const raw = await readBody(req);
    const send = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      requests.push({ method, path: u.pathname, apiVersion, status });
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'x-ms-request-id': randomBytes(16).toString('hex'),
        'x-ms-keyvault-service-version': '1.9.2000.1',
        ...headers,
      });
      res.end(value === undefined ? '' : JSON.stringify(value));
    };
    const error = (e: VaultError, headers: Record<string, string> = {}) =>
      send(
        e.status,
        { error: { code: e.code, message: e.message, ...(e.inner ? { innererror: { code: e.inner } } : {}) } },
        headers,
      );
    if (faults.delayMs > 0) await new Promise((ok) => setTimeout(ok, faults.delayMs));
    if (!supportedApiVersion(apiVersion)) {
      return error(
        new VaultError(
          400,
          'BadParameter',
          `The specified version (${apiVersion ?? 'none'}) is not recognized. Consider using the latest supported version.`,
        ),
      );
    }
    const auth = req.headers.authorization;
    if (!auth)
      return error(new VaultError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.'), {
        'www-authenticate': challenge(),
      });
    const claims = /^Bearer (.+)$/.exec(auth)?.[1] ? entra.verify(auth.slice(7), resource) : undefined;
    if (!claims)
      return error(new VaultError(401, 'Unauthorized', 'AKV10022: Invalid audience, signature or expired token.'), {
        'www-authenticate': challenge(),
      });
    if (faults.throttle.count > 0 || (faults.throttleFraction > 0 && Math.random() < faults.throttleFraction)) {
      if (faults.throttle.count > 0) faults.throttle.count--;
      // https://learn.microsoft.com/en-us/azure/key-vault/general/overview-throttling
      return error(
        new VaultError(
          429,
          'Throttled',
          'Request was not processed because too many requests were received. Reason: A',
        ),
        { 'retry-after': String(faults.throttle.retryAfterSeconds) },
      );
    }
    const role = roles.get(claims.appid);
    const can = (p: Permission) => {
      if (role === 'crypto-officer' || (role === 'crypto-user' && USER_PERMISSIONS.has(p))) return;
      throw new VaultError(
        403,
        'Forbidden',
        `Caller is not authorized to perform action on resource. If role assignments, deny assignments or role definitions were changed recently, please observe propagation time. Caller: appid=${claims.appid}; Action: 'Microsoft.KeyVault/vaults/keys/${p}/action'`,
        'ForbiddenByRbac',
      );
    };
    let body: Record<string, unknown> = {};
    try {
      body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    } catch {
      return error(new VaultError(400, 'BadParameter', 'The request body is not valid JSON.'));
    }
    try {
      const [status, value] = await route(method, u.pathname, u.searchParams, body, can);
      send(status, value);
    } catch (e) {
      if (e instanceof VaultError) return error(e);
      throw e;
    }
  }

  const server = createServer({ cert: ca.certPem, key: ca.keyPem }, (req, res) => {
    if (faults.down) {
      req.socket.destroy();
      return;
    }
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'InternalServerError', message: 'fake Key Vault failed' } }));
    });
  });
  server.on('connection', (s: Socket) => {
    if (faults.down) {
      s.destroy();
      return;
    }
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    kind,
    resource,
    faults,
    requests,
    grant: (id, role) => void roles.set(id, role),
    revoke: (id) => void roles.delete(id),
    versions: (name) =>
      (keys.get(name) ?? []).map((v) => ({
        version: v.version,
        enabled: v.enabled,
        ...(v.exp !== undefined ? { exp: v.exp } : {}),
        ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
      })),
    setAttributes(name, version, a) {
      const v = find(name, version);
      if (a.enabled !== undefined) v.enabled = a.enabled;
      if (a.exp !== undefined) {
        if (a.exp === null) delete v.exp;
        else v.exp = a.exp;
      }
      if (a.nbf !== undefined) {
        if (a.nbf === null) delete v.nbf;
        else v.nbf = a.nbf;
      }
      v.updated = now();
    },
    async createKey(name, kty, keySize) {
      const v = await newVersion(kty, keySize, undefined);
      keys.set(name, [...(keys.get(name) ?? []), v]);
      return v.version;
    },
    close: () =>
      new Promise((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}

/** api-version 7.4 or later: `7.4`, `7.5`, `7.6`, or the date-named versions (`2025-07-01`). */
function supportedApiVersion(v: string | null): boolean {
  if (!v) return false;
  const num = /^7\.(\d+)(?:-preview)?$/.exec(v);
  if (num) return Number(num[1]) >= 4;
  return /^20\d\d-\d\d-\d\d(?:-preview)?$/.test(v) && v >= '2025-01-01';
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => ok(Buffer.concat(chunks).toString('utf8')));
    req.on('error', fail);
  });
}
