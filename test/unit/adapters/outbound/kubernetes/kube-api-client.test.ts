import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeApiClient } from '#src/adapters/outbound/kubernetes/kube-api-client.js';
import type { KubeConnection } from '#src/adapters/outbound/kubernetes/kubeconfig.js';
import { KubeApiError, type KubeResource, parseKubeResource } from '#src/domain/model/reencrypt.js';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

const DISCOVERY: Record<string, unknown> = {
  '/api/v1': { resources: [{ name: 'secrets', namespaced: true, verbs: ['get', 'list', 'update'] }] },
  '/apis/apps': { preferredVersion: { groupVersion: 'apps/v1' } },
  '/apis/apps/v1': {
    resources: [
      { name: 'deployments', namespaced: true, verbs: ['get', 'list', 'update'] },
      { name: 'deployments/status', namespaced: true, verbs: ['get'] },
    ],
  },
};

/** A plain-HTTP stand-in for kube-apiserver's REST API: discovery answered, the rest by `handler`. */
async function apiserver(handler: Handler): Promise<{ conn: KubeConnection; seen: string[]; server: Server }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''} ${req.headers.accept ?? ''}`);
      const d = DISCOVERY[req.url ?? ''];
      if (d) return res.writeHead(200).end(JSON.stringify(d));
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let n = 0;
  const conn: KubeConnection = {
    server: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    source: 'test',
    credential: async () => ({ token: `t${++n}` }),
  };
  servers.push(server);
  return { conn, seen, server };
}
const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

const secrets = parseKubeResource('secrets') as KubeResource;
const deployments = parseKubeResource('deployments.apps') as KubeResource;
const live = new AbortController().signal;
const status = (res: ServerResponse, code: number, s: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(code, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(s));

describe('KubeApiClient: the REST calls and how failures are sorted', () => {
  it('lists names only (metadata), pages with continue, finds a group through discovery', async () => {
    const { conn, seen } = await apiserver((req, _b, res) =>
      status(res, 200, {
        metadata: { continue: req.url?.includes('continue') ? '' : 'tok', remainingItemCount: 5 },
        items: [{ metadata: { name: 'a', namespace: 'ns' } }],
      }),
    );
    const k = await KubeApiClient.open(conn);
    const page = await k.list(deployments, { limit: 2 }, live);
    expect(page).toEqual({ items: [{ name: 'a', namespace: 'ns' }], continueToken: 'tok', remaining: 5 });
    await k.list(deployments, { limit: 2, continueToken: 'tok' }, live);
    expect(seen.filter((s) => s.includes('/deployments'))).toEqual([
      'GET /apis/apps/v1/deployments?limit=2 Bearer t1 application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json',
      'GET /apis/apps/v1/deployments?limit=2&continue=tok Bearer t1 application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json',
    ]);
    await k.close();
  });

  it('writes back exactly the bytes it read, with their resourceVersion', async () => {
    const stored =
      '{"kind":"Secret","metadata":{"name":"s","namespace":"ns","resourceVersion":"42"},"data":{"k":"dg=="}}';
    let put = '';
    const { conn } = await apiserver((req, body, res) => {
      if (req.method === 'PUT') put = body;
      res.writeHead(200).end(stored);
    });
    const k = await KubeApiClient.open(conn);
    const obj = await k.get(secrets, { namespace: 'ns', name: 's' }, live);
    expect(obj.resourceVersion).toBe('42');
    await k.replace(secrets, { namespace: 'ns', name: 's' }, obj, live);
    expect(put).toBe(stored);
    await k.close();
  });

  it("sorts 404, 409, 410, 429 (Retry-After), 503, 403 and 422, and never repeats the apiserver's message", async () => {
    const codes = [404, 409, 410, 429, 503, 403, 422];
    let i = 0;
    const { conn } = await apiserver((_req, _b, res) => {
      const code = codes[i++] as number;
      status(
        res,
        code,
        {
          kind: 'Status',
          code,
          reason: code === 422 ? 'Invalid' : 'X',
          message: 'data[password]: Invalid value: "hunter2"',
          details: { causes: [{ field: 'data[password]', message: 'Invalid value: "hunter2"' }] },
        },
        code === 429 ? { 'retry-after': '3' } : {},
      );
    });
    const k = await KubeApiClient.open(conn);
    const got: (KubeApiError | undefined)[] = [];
    for (const _ of codes)
      got.push(
        await k.get(secrets, { namespace: 'ns', name: 's' }, live).then(
          () => undefined,
          (e: KubeApiError) => e,
        ),
      );
    expect(got.map((e) => [e?.failure, e?.retryAfterMs])).toEqual([
      ['not-found', undefined],
      ['conflict', undefined],
      ['expired', undefined],
      ['retryable', 3_000],
      ['retryable', undefined],
      ['fatal', undefined],
      ['fatal', undefined],
    ]);
    expect(got[5]?.message).toBe(
      'get secrets ns/s: HTTP 403 X (data[password]): the identity needs list, get and update on the resource',
    );
    expect(got[6]?.message).toBe('get secrets ns/s: HTTP 422 Invalid (data[password])');
    for (const e of got) expect(e?.message).not.toContain('hunter2');
    await k.close();
  });

  it('asks for a fresh credential once after a 401; a refused connection is retryable; a missing resource is fatal', async () => {
    const { conn, seen, server } = await apiserver((req, _b, res) =>
      req.headers.authorization === 'Bearer t1' ? status(res, 401, {}) : res.writeHead(200).end('{"metadata":{}}'),
    );
    const k = await KubeApiClient.open(conn);
    await k.get(secrets, { namespace: 'ns', name: 's' }, live);
    expect(seen.filter((s) => s.startsWith('GET /api/v1/namespaces')).map((s) => s.split(' ')[3])).toEqual([
      't1',
      't2',
    ]);
    await expect(k.list(parseKubeResource('widgets') as KubeResource, { limit: 1 }, live)).rejects.toThrow(
      'the apiserver serves no resource widgets in /api/v1',
    );
    await k.close();
    server.close();
    const gone = await KubeApiClient.open(conn);
    const err = await gone.get(secrets, { name: 'x', namespace: 'y' }, live).catch((e: KubeApiError) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).failure).toBe('retryable');
    await gone.close();
  });
});
