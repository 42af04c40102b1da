import type { ApiServer } from './apiserver.js';
import { decodeStored, type StoredObject } from './envelope.js';
import type { Etcd } from './etcd.js';
import type { KleidiNode } from './kleidi.js';
import type { Figures } from './scenario.js';
import { etcdKey, type Kind } from './kube.js';

/** What one scenario reports: pass/fail, its wall time and its measured figures (seconds, counts). */
export interface ScenarioResult {
  readonly scenario: string;
  readonly kubernetes: string;
  readonly backend: string;
  ok: boolean;
  seconds: number;
  readonly figures: Figures;
  error?: string;
}

/** The control plane the scenarios of one (Kubernetes version, backend) pair share. */
export interface Cluster {
  readonly dir: string;
  readonly kubernetes: string;
  readonly backend: string;
  readonly apiserverBin: string;
  readonly etcd: Etcd;
  readonly api: ApiServer;
  readonly kleidi: KleidiNode;
  /** A second kleidi (sharing key material) for the HA scenario, built on demand. */
  newKleidi(name: string): Promise<KleidiNode>;
  /** Another kube-apiserver on the same etcd, its EncryptionConfiguration naming `kleidi`'s socket. */
  newApiServer(name: string, kleidi: KleidiNode): Promise<ApiServer>;
  /** Objects written so far and what they hold, by kind and name. */
  readonly written: Map<string, string>;
  /** The provider name new writes are expected under (changes with the reload scenario). */
  provider: string;
}

/** The raw value of one object, decoded; throws when it is not a KMSv2 value. */
export async function stored(etcd: Etcd, kind: Kind, name: string): Promise<StoredObject> {
  const [kv] = await etcd.get(etcdKey(kind, name));
  if (!kv) throw new Error(`${etcdKey(kind, name)} is not in etcd`);
  return decodeStored(kv.value);
}

/** Every object of `kind` in etcd, decoded. */
export async function storedAll(etcd: Etcd, kind: Kind): Promise<Map<string, StoredObject>> {
  const out = new Map<string, StoredObject>();
  for (const kv of await etcd.get(`/registry/${kind}/`)) out.set(kv.key, decodeStored(kv.value));
  return out;
}

export function check(cond: boolean, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

export const since = (t0: number): number => Math.round((performance.now() - t0) / 100) / 10;
