import type { ApiServer } from './apiserver.js';

/** The namespace every scenario writes into (namespaces themselves are not encrypted). */
const NS = 'e2e';

export type Kind = 'secrets' | 'configmaps';

interface KubeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  data?: Record<string, string>;
}

const base = (kind: Kind) => `/api/v1/namespaces/${NS}/${kind}`;

/** The etcd key kube-apiserver stores an object under (default --etcd-prefix /registry). */
export const etcdKey = (kind: Kind, name: string) => `/registry/${kind}/${NS}/${name}`;

/** The value written for `name`: Secrets carry base64 data, ConfigMaps plain text. */
function payload(kind: Kind, name: string, value: string): KubeObject {
  const data = { value: kind === 'secrets' ? Buffer.from(value).toString('base64') : value };
  return { metadata: { name, namespace: NS }, data };
}

function decoded(kind: Kind, obj: KubeObject): string | undefined {
  const v = obj.data?.value;
  if (v === undefined) return undefined;
  return kind === 'secrets' ? Buffer.from(v, 'base64').toString() : v;
}

class KubeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call(api: ApiServer, method: string, path: string, body?: unknown, timeoutMs?: number) {
  const res = await api.request(method, path, body, timeoutMs);
  if (res.status < 200 || res.status > 299)
    throw new KubeError(res.status, `${api.name} ${method} ${path}: ${res.status} ${res.body.slice(0, 300)}`);
  return JSON.parse(res.body) as KubeObject & { items?: KubeObject[] };
}

export async function ensureNamespace(api: ApiServer): Promise<void> {
  const res = await api.request('POST', '/api/v1/namespaces', { metadata: { name: NS } });
  if (res.status !== 201 && res.status !== 409) throw new KubeError(res.status, `create namespace: ${res.body}`);
}

export async function create(api: ApiServer, kind: Kind, name: string, value: string, timeoutMs?: number) {
  await call(api, 'POST', base(kind), payload(kind, name, value), timeoutMs);
}

/** Reads an object back; its value. */
export async function read(api: ApiServer, kind: Kind, name: string, timeoutMs?: number): Promise<string | undefined> {
  return decoded(kind, await call(api, 'GET', `${base(kind)}/${name}`, undefined, timeoutMs));
}

/** Every object of `kind` in every namespace (the apiserver's own kube-system ones too). */
export async function listAll(api: ApiServer, kind: Kind): Promise<KubeObject[]> {
  return (await call(api, 'GET', `/api/v1/${kind}`)).items ?? [];
}

/** Writes an object back unchanged (PUT): the apiserver re-encrypts a value it read as stale. */
export async function replace(api: ApiServer, kind: Kind, obj: KubeObject): Promise<void> {
  const ns = obj.metadata.namespace ?? NS;
  await call(api, 'PUT', `/api/v1/namespaces/${ns}/${kind}/${obj.metadata.name}`, {
    ...obj,
    kind: kind === 'secrets' ? 'Secret' : 'ConfigMap',
    apiVersion: 'v1',
  });
}
