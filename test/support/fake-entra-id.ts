import {
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual,
  verify as verifySignature,
  X509Certificate,
} from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { azureTestCa } from './azure-test-ca.js';

/**
 * How a registered application (service principal) may authenticate at the token endpoint
 * (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow):
 * a client secret, a certificate credential (a client assertion signed with its key), or a
 * federated identity credential (workload identity: the assertion is the projected service-account
 * token, https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation).
 */
type AppCredential =
  | { readonly kind: 'secret'; readonly secret: string }
  | { readonly kind: 'certificate'; readonly certPem: string }
  | { readonly kind: 'federated'; readonly token: string };

/** What an access token issued here says; the fake Key Vault checks it. */
interface TokenClaims {
  readonly aud: string;
  readonly tid: string;
  readonly appid: string;
  readonly exp: number;
}

export interface FakeEntraId {
  /** The authority host to give the SDK (`authorityHost`), e.g. https://127.0.0.1:41234. */
  readonly authorityHost: string;
  readonly tenantId: string;
  /** Registers an application; tokens for it may be requested from then on. */
  register(clientId: string, credential: AppCredential): void;
  /** Checks an access token issued here: signature, expiry, audience; undefined when invalid. */
  verify(token: string, audience: string): TokenClaims | undefined;
  /** Lifetime in seconds of the tokens issued from now on (expires_in). */
  tokenLifetimeSeconds: number;
  /** While true every request is refused at the TCP level (connection reset). */
  down: boolean;
  /** Token requests answered with a token, per client id. */
  readonly issued: Map<string, number>;
  /** Every request received (method and path). */
  readonly requests: string[];
  /**
   * Starts an instance-metadata (IMDS) token endpoint on plain HTTP, as on an Azure VM
   * (http://169.254.169.254/metadata/identity/oauth2/token), issuing tokens for the managed
   * identities given; resolves to its base URL (AZURE_POD_IDENTITY_AUTHORITY_HOST points MSAL at it).
   */
  startImds(identities: readonly string[]): Promise<string>;
  close(): Promise<void>;
}

/**
 * A loopback stand-in for Microsoft Entra ID's v2.0 endpoints that MSAL (under @azure/identity)
 * calls for the client-credentials grant: the tenant's OpenID configuration and the token
 * endpoint, over HTTPS with the test CA. Tokens are HMAC-signed with a key only this process
 * knows; they are bearer tokens for the fake Key Vault, nothing else.
 */
export async function startFakeEntraId(opts: { tenantId?: string } = {}): Promise<FakeEntraId> {
  const tenantId = opts.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const signingKey = randomBytes(32);
  const apps = new Map<string, AppCredential>();
  const seenAssertions = new Set<string>();
  const ca = azureTestCa();
  const sockets = new Set<Socket>();
  let base = '';

  const state: FakeEntraId = {
    authorityHost: '',
    tenantId,
    register: (id, cred) => void apps.set(id, cred),
    verify: (token, audience) => {
      const [h, p, s] = token.split('.');
      if (!h || !p || !s) return undefined;
      const expected = createHmac('sha256', signingKey).update(`${h}.${p}`).digest();
      const given = Buffer.from(s, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as TokenClaims;
      if (claims.aud !== audience || claims.exp * 1000 <= Date.now()) return undefined;
      return claims;
    },
    tokenLifetimeSeconds: 3600,
    down: false,
    issued: new Map(),
    requests: [],
    async startImds(identities) {
      // https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#get-a-token-using-http
      const imds = createHttpServer((req, res) => {
        const u = new URL(req.url ?? '/', 'http://127.0.0.1');
        state.requests.push(`IMDS ${req.method} ${u.pathname}`);
        const json = (status: number, value: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify(value));
        };
        if (state.down) return void req.socket.destroy();
        // MSAL adds a trailing slash to the path.
        if (u.pathname.replace(/\/$/, '') !== '/metadata/identity/oauth2/token' || req.method !== 'GET') {
          return json(404, { error: 'not_found' });
        }
        if (req.headers.metadata !== 'true') {
          return json(400, { error: 'invalid_request', error_description: 'Required metadata header not specified' });
        }
        const resource = u.searchParams.get('resource') ?? '';
        const clientId = u.searchParams.get('client_id') ?? identities[0] ?? '';
        if (!identities.includes(clientId)) {
          return json(400, { error: 'invalid_request', error_description: 'Identity not found' });
        }
        const now = Math.floor(Date.now() / 1000);
        json(200, {
          access_token: mint(clientId, resource),
          client_id: clientId,
          expires_in: String(state.tokenLifetimeSeconds),
          expires_on: String(now + state.tokenLifetimeSeconds),
          ext_expires_in: String(state.tokenLifetimeSeconds),
          not_before: String(now),
          resource,
          token_type: 'Bearer',
        });
      });
      await new Promise<void>((ok) => imds.listen(0, '127.0.0.1', ok));
      extra.push({ close: () => imds.close() });
      return `http://127.0.0.1:${(imds.address() as AddressInfo).port}`;
    },
    close: () =>
      new Promise((ok) => {
        for (const e of extra) e.close();
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };

  /** An access token for `clientId` and `resource`, HMAC-signed with this process's key. */
  const mint = (clientId: string, resource: string) => {
    const exp = Math.floor(Date.now() / 1000) + state.tokenLifetimeSeconds;
    const claims: TokenClaims = { aud: resource, tid: tenantId, appid: clientId, exp };
    const h = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
    const p = Buffer.from(
      JSON.stringify({ ...claims, iat: exp - state.tokenLifetimeSeconds, nonce: randomBytes(8).toString('hex') }),
    ).toString('base64url');
    const s = createHmac('sha256', signingKey).update(`${h}.${p}`).digest('base64url');
    state.issued.set(clientId, (state.issued.get(clientId) ?? 0) + 1);
    return `${h}.${p}.${s}`;
  };
  const extra: { close(): void }[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', base);
    state.requests.push(`${req.method} ${url.pathname}`);
    const body = await readBody(req);
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(JSON.stringify(value));
    };
    const tenantPath = `/${tenantId}`;
    if (req.method === 'GET' && url.pathname === `${tenantPath}/v2.0/.well-known/openid-configuration`) {
      // The fields MSAL requires (msal-common isOpenIdConfigResponse), shaped like
      // https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration.
      return json(200, {
        token_endpoint: `${base}${tenantPath}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}${tenantPath}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}${tenantPath}/oauth2/v2.0/logout`,
        jwks_uri: `${base}${tenantPath}/discovery/v2.0/keys`,
        issuer: `${base}/${tenantId}/v2.0`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        tenant_region_scope: 'EU',
      });
    }
    if (req.method === 'POST' && url.pathname === `${tenantPath}/oauth2/v2.0/token`) {
      const form = new URLSearchParams(body);
      const fail = (status: number, error: string, description: string) =>
        json(status, { error, error_description: description, error_codes: [status === 401 ? 7000215 : 900144] });
      if (form.get('grant_type') !== 'client_credentials') {
        return fail(400, 'unsupported_grant_type', 'AADSTS70003: only client_credentials is served here');
      }
      const clientId = form.get('client_id') ?? '';
      const app = apps.get(clientId);
      if (!app) {
        return fail(
          400,
          'unauthorized_client',
          `AADSTS700016: Application with identifier '${clientId}' was not found`,
        );
      }
      const scope = form.get('scope') ?? '';
      const resource = /^(https:\/\/[^ ]+)\/\.default$/.exec(scope.split(' ')[0] ?? '')?.[1];
      if (!resource) return fail(400, 'invalid_scope', 'AADSTS1002012: the scope must be <resource>/.default');
      const problem = checkClient(app, form, `${base}${tenantPath}/oauth2/v2.0/token`, clientId, seenAssertions);
      if (problem) return fail(401, 'invalid_client', problem);
      return json(200, {
        token_type: 'Bearer',
        expires_in: state.tokenLifetimeSeconds,
        ext_expires_in: state.tokenLifetimeSeconds,
        access_token: mint(clientId, resource),
      });
    }
    json(404, {
      error: 'not_found',
      error_description: `${req.method} ${url.pathname} is not served by the fake Entra ID`,
    });
  };

  const server = createHttpsServer({ cert: ca.certPem, key: ca.keyPem }, (req, res) => {
    if (state.down) {
      req.socket.destroy();
      return;
    }
    handle(req, res).catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  server.on('connection', (s: Socket) => {
    if (state.down) {
      s.destroy();
      return;
    }
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  (state as { authorityHost: string }).authorityHost = base;
  return state;
}

/** Why the client's credential is refused, or undefined when it is accepted. */
function checkClient(
  app: AppCredential,
  form: URLSearchParams,
  tokenEndpoint: string,
  clientId: string,
  seen: Set<string>,
): string | undefined {
  const assertion = form.get('client_assertion');
  if (app.kind === 'secret') {
    const given = Buffer.from(form.get('client_secret') ?? '');
    const want = Buffer.from(app.secret);
    return given.length === want.length && timingSafeEqual(given, want)
      ? undefined
      : 'AADSTS7000215: Invalid client secret provided';
  }
  if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' || !assertion) {
    return 'AADSTS700025: a client assertion is required for this application';
  }
  if (app.kind === 'federated') {
    return assertion === app.token ? undefined : 'AADSTS700213: No matching federated identity record found';
  }
  // A certificate credential: an RS256/PS256 JWT signed with the certificate's key
  // (https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials).
  const [h, p, s] = assertion.split('.');
  if (!h || !p || !s) return 'AADSTS50027: malformed client assertion';
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, string>;
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
  const cert = new X509Certificate(app.certPem);
  const thumbprint = createHash('sha1').update(cert.raw).digest('base64url');
  const thumbprint256 = createHash('sha256').update(cert.raw).digest('base64url');
  if (header.x5t !== thumbprint && header['x5t#S256'] !== thumbprint256) {
    return 'AADSTS700027: the certificate thumbprint does not match a registered credential';
  }
  const data = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');
  const ok =
    header.alg === 'RS256'
      ? verifySignature('sha256', data, cert.publicKey, sig)
      : header.alg === 'PS256'
        ? verifySignature('sha256', data, { key: cert.publicKey, padding: 6, saltLength: 32 }, sig)
        : false;
  if (!ok) return 'AADSTS700027: client assertion signature is invalid';
  if (claims.aud !== tokenEndpoint || claims.iss !== clientId || claims.sub !== clientId) {
    return 'AADSTS700027: client assertion audience, issuer or subject is wrong';
  }
  if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) return 'AADSTS700027: client assertion expired';
  if (typeof claims.jti === 'string') {
    if (seen.has(claims.jti)) return 'AADSTS700027: client assertion was replayed';
    seen.add(claims.jti);
  }
  return undefined;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => ok(Buffer.concat(chunks).toString('utf8')));
    req.on('error', fail);
  });
}
