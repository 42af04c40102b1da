import { type Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { urlToHttpOptions } from 'node:url';
import { VaultCallFailure } from './vault-transit.errors.js';

/**
 * What node-vault hands its request function: `client.request` builds the URI
 * and headers, then calls `rp(options)` and reads `statusCode`, `body` and
 * `request.path` from the answer
 * (https://github.com/nodevault/node-vault/blob/v0.12.0/src/index.js).
 * `agent` and `timeout` are kleidi's own per-request options.
 */
interface TransportRequest {
  readonly method: string;
  readonly uri: string;
  readonly headers?: Record<string, string>;
  readonly json?: unknown;
  readonly agent?: Agent;
  readonly timeout?: number;
}

interface TransportResponse {
  readonly statusCode: number;
  readonly body: unknown;
  readonly request: { readonly path: string };
}

/** The shape of node-vault's `request-promise` option: `defaults(rpDefaults)` returns the request function. */
export interface VaultTransport {
  defaults(ignored: unknown): (req: TransportRequest) => Promise<TransportResponse>;
}

/**
 * kleidi's HTTP layer under node-vault, in place of the axios instance
 * node-vault builds by default. SECURITY: that instance follows up to 21
 * redirects to any origin, carrying X-Vault-Token and the request body (with
 * a 307 or 308 the seed being wrapped), and routes requests through a proxy
 * named by HTTP_PROXY / HTTPS_PROXY / ALL_PROXY; node-vault exposes neither
 * setting (https://github.com/axios/axios/blob/v1.x/lib/adapters/http.js).
 * This one sends each request exactly once, on kleidi's agent, to the
 * configured origin only:
 * - a redirect (3xx) is never followed, to another origin or the same one,
 *   so a token or seed cannot leave for an address an operator did not
 *   configure, and https can never be downgraded to http; the answer
 *   becomes a failure that names the redirect's target origin;
 * - no proxy is taken from the environment: node:http connects through the
 *   given agent, and kleidi's agents are built without `proxyEnv`
 *   (https://nodejs.org/api/http.html#new-agentoptions);
 * - node-vault's other environment inputs (VAULT_SKIP_VERIFY through its
 *   request defaults, VAULT_PREFIX through the URI) do not apply: the
 *   defaults are ignored and a URI outside `origin` is refused.
 */
export function vaultTransport(origin: string): VaultTransport {
  const targets = new Map<string, Target>();
  return { defaults: () => (req) => send(req, origin, targets) };
}

/** A request URI parsed and checked once: node:http's options for it, and its path for node-vault. */
type Target = { readonly options: ReturnType<typeof urlToHttpOptions>; readonly https: boolean; readonly path: string };

/**
 * kleidi sends a handful of distinct URIs (encrypt, decrypt, key metadata, token calls), so each
 * is parsed once instead of per request: `new URL` plus node:http's own conversion of it cost
 * about 2 % of the process's CPU under load (docs/benchmarks.md, 7.). Bounded, so URIs that vary
 * (none do today) cannot grow it; the options are the same `urlToHttpOptions` node:http derives
 * from a URL argument (https://nodejs.org/api/url.html#urlurltohttpoptionsurl).
 */
const MAX_TARGETS = 64;

function target(uri: string, origin: string, targets: Map<string, Target>): Target | VaultCallFailure {
  const known = targets.get(uri);
  if (known) return known;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return new VaultCallFailure(undefined, 'request URI is not a URL');
  }
  if (url.origin !== origin) return new VaultCallFailure(undefined, `request outside ${origin} refused`);
  if (targets.size >= MAX_TARGETS) targets.clear();
  const t: Target = { options: urlToHttpOptions(url), https: url.protocol === 'https:', path: url.pathname };
  targets.set(uri, t);
  return t;
}

/** axios's code for a timed-out request, kept so log lines and alerts keep their wording. */
const TIMEOUT_CODE = 'ECONNABORTED';

function send(req: TransportRequest, origin: string, targets: Map<string, Target>): Promise<TransportResponse> {
  const t = target(req.uri, origin, targets);
  if (t instanceof VaultCallFailure) return Promise.reject(t);
  // A string body: node:http then sends the header and the body as one write.
  const payload = req.json === undefined ? undefined : JSON.stringify(req.json);
  const headers: Record<string, string> = {
    accept: 'application/json',
    ...req.headers,
    ...(payload === undefined
      ? {}
      : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload, 'utf8')) }),
  };
  const request = t.https ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const fail = (err: unknown) => {
      clearTimeout(timer);
      reject(err);
    };
    const options = { ...t.options, method: req.method, headers, ...(req.agent ? { agent: req.agent } : {}) };
    const r = request(options, (res) => {
      if (isRedirect(res.statusCode)) {
        res.resume();
        fail(redirectFailure(res, req.uri));
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        const text =
          chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8');
        resolve({ statusCode: res.statusCode ?? 0, body: parseBody(text), request: { path: t.path } });
      });
    });
    r.on('error', fail);
    if (req.timeout !== undefined && req.timeout > 0) {
      timer = setTimeout(() => {
        const err = Object.assign(new Error(`timeout of ${req.timeout} ms exceeded`), { code: TIMEOUT_CODE });
        r.destroy(err);
        fail(err);
      }, req.timeout);
    }
    r.end(payload, 'utf8');
  });
}

function isRedirect(status: number | undefined): boolean {
  return status !== undefined && status >= 300 && status < 400 && status !== 304;
}

/** The failure for a redirect: it names the target's origin only (never its path or query). */
function redirectFailure(res: IncomingMessage, from: string): VaultCallFailure {
  const status = res.statusCode ?? 0;
  const location = res.headers.location;
  if (location === undefined) return new VaultCallFailure(status, 'redirect not followed');
  let where: string;
  try {
    where = new URL(location, from).origin;
  } catch {
    where = 'an invalid location';
  }
  return new VaultCallFailure(status, `redirect to ${where} not followed`);
}

/** Vault answers JSON; anything else (a proxy's page) is kept as text for the response parsers to refuse. */
function parseBody(text: string): unknown {
  if (text === '') return '';
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
