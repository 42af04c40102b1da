import type { ApiServer } from './apiserver.js';
import { type Cluster, check, stored } from './context.js';
import { create, type Kind, read } from './kube.js';

let counter = 0;
/** A fresh object name (DNS-1123). */
const nextName = (prefix: string): string => `${prefix}-${++counter}`;

export const KINDS: readonly Kind[] = ['secrets', 'configmaps'];

/** Writes `n` Secrets and `n` ConfigMaps through `api`; remembers them in `c.written`. */
export async function writeBatch(c: Cluster, api: ApiServer, prefix: string, n: number): Promise<string[]> {
  const keys: string[] = [];
  for (const kind of KINDS)
    for (let i = 0; i < n; i++) {
      const name = nextName(prefix);
      const value = `${kind}:${name}:${Math.random().toString(36).slice(2)}`;
      await create(api, kind, name, value);
      c.written.set(`${kind}/${name}`, value);
      keys.push(`${kind}/${name}`);
    }
  return keys;
}

/** Reads back every object in `keys` (default: all written) through `api` and compares. */
export async function readBack(c: Cluster, api: ApiServer, keys?: readonly string[]): Promise<number> {
  const todo = keys ?? [...c.written.keys()];
  for (const key of todo) {
    const [kind, name] = key.split('/') as [Kind, string];
    const got = await read(api, kind, name);
    check(got === c.written.get(key), `${api.name}: ${key} read back ${JSON.stringify(got)}`);
  }
  return todo.length;
}

/** Checks the raw etcd value of each object: the provider prefix and the key_id expected. */
export async function checkStored(c: Cluster, keys: readonly string[], keyId: string, provider = c.provider) {
  for (const key of keys) {
    const [kind, name] = key.split('/') as [Kind, string];
    const obj = await stored(c.etcd, kind, name);
    check(obj.provider === provider, `${key}: stored under provider ${obj.provider}, expected ${provider}`);
    check(obj.keyId === keyId, `${key}: stored under key_id ${obj.keyId}, expected ${keyId}`);
  }
}

/** One write probe: creates a Secret with a short client timeout; true when the apiserver stored it. */
export async function tryWrite(c: Cluster, api: ApiServer, prefix: string, timeoutMs = 10_000): Promise<string | null> {
  const name = nextName(prefix);
  const value = `probe:${name}`;
  try {
    await create(api, 'secrets', name, value, timeoutMs);
  } catch {
    return null;
  }
  c.written.set(`secrets/${name}`, value);
  return name;
}

/** One read probe of an object written earlier; true when it read back right. */
export async function tryRead(c: Cluster, api: ApiServer, key: string): Promise<boolean> {
  const [kind, name] = key.split('/') as [Kind, string];
  try {
    return (await read(api, kind, name, 10_000)) === c.written.get(key);
  } catch {
    return false;
  }
}
