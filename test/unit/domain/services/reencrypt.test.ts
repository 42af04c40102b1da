import { describe, expect, it } from 'vitest';
import {
  KubeApiError,
  type KubeObject,
  type KubeResource,
  type ObjectName,
  type ObjectPage,
  orderKey,
  parseKubeResource,
  type ReencryptCheckpoint,
  type ReencryptProgress,
} from '#src/domain/model/reencrypt.js';
import { type ReencryptOptions, reencrypt } from '#src/domain/services/reencrypt.js';
import type { CheckpointStore } from '#src/ports/outbound/checkpoint.port.js';
import type { KubeObjectStore } from '#src/ports/outbound/kube-objects.port.js';

const secrets = parseKubeResource('secrets') as KubeResource;
const configmaps = parseKubeResource('configmaps') as KubeResource;

/** A virtual clock: sleeping advances it, nothing waits for real. */
function clock() {
  const c = {
    now: 0,
    slept: [] as number[],
    monotonic: () => c.now,
    sleep: async (ms: number, signal: AbortSignal) => {
      if (signal.aborted) throw signal.reason;
      c.slept.push(ms);
      c.now += ms;
    },
  };
  return c;
}

type Fault = (op: 'list' | 'get' | 'put', resource: string, key: string) => KubeApiError | undefined;

/**
 * An in-process apiserver: objects per resource with a resourceVersion each, lists in key
 * order with continue tokens, GET, and PUT that refuses a stale resourceVersion (409) and
 * bumps it otherwise. `fault` injects failures; `writes` counts the PUTs per object.
 */
function fakeCluster(objects: Record<string, string[]>, fault: Fault = () => undefined) {
  const store = new Map<string, Map<string, number>>();
  for (const [r, keys] of Object.entries(objects)) store.set(r, new Map(keys.map((k) => [k, 1])));
  let rv = 100;
  const writes = new Map<string, number>();
  const calls = { list: 0, get: 0, put: 0 };
  const split = (k: string): ObjectName => {
    const [ns, name] = k.split('/');
    return name === undefined ? { name: ns as string } : { namespace: ns as string, name };
  };
  const fake: KubeObjectStore & {
    store: typeof store;
    writes: typeof writes;
    calls: typeof calls;
    onGet?: (resource: string, key: string) => void;
  } = {
    cluster: 'https://fake:6443',
    store,
    writes,
    calls,
    async list(resource, page): Promise<ObjectPage> {
      calls.list++;
      const f = fault('list', resource.name, page.continueToken ?? '');
      if (f) throw f;
      const keys = [...(store.get(resource.resource)?.keys() ?? [])].sort();
      const start = page.continueToken ? keys.findIndex((k) => k > (page.continueToken as string)) : 0;
      const from = start < 0 ? keys.length : start;
      const items = keys.slice(from, from + page.limit);
      const rest = keys.length - from - items.length;
      return {
        items: items.map(split),
        ...(rest > 0 ? { continueToken: items.at(-1) as string, remaining: rest } : {}),
      };
    },
    async get(resource, name): Promise<KubeObject> {
      calls.get++;
      const key = orderKey(name);
      const f = fault('get', resource.name, key);
      if (f) throw f;
      fake.onGet?.(resource.name, key);
      const v = store.get(resource.resource)?.get(key);
      if (v === undefined) throw new KubeApiError('not-found', `${key} not found`);
      return { resourceVersion: String(v), body: `{"rv":${v}}` };
    },
    async replace(resource, name, obj): Promise<void> {
      calls.put++;
      const key = orderKey(name);
      const f = fault('put', resource.name, key);
      if (f) throw f;
      const objs = store.get(resource.resource);
      const v = objs?.get(key);
      if (v === undefined) throw new KubeApiError('not-found', `${key} not found`);
      if (String(v) !== obj.resourceVersion) throw new KubeApiError('conflict', `${key} changed`);
      objs?.set(key, ++rv);
      writes.set(`${resource.name}/${key}`, (writes.get(`${resource.name}/${key}`) ?? 0) + 1);
    },
    close: async () => undefined,
  };
  return fake;
}

function memoryCheckpoints(initial?: ReencryptCheckpoint): CheckpointStore & { saved: ReencryptCheckpoint[] } {
  const s = {
    location: 'memory',
    saved: [] as ReencryptCheckpoint[],
    load: async () => s.saved.at(-1) ?? initial,
    save: async (c: ReencryptCheckpoint) => {
      s.saved.push(structuredClone(c));
    },
  };
  return s;
}

function options(c: ReturnType<typeof clock>, over: Partial<ReencryptOptions> = {}): ReencryptOptions {
  return {
    resources: [secrets],
    pageSize: 3,
    objectsPerSecond: 1e6,
    dryRun: false,
    restart: false,
    checkpointEvery: 2,
    conflictAttempts: 4,
    retryAttempts: 4,
    backoff: { baseMs: 100, maxMs: 1_000 },
    listRestarts: 3,
    stop: new AbortController().signal,
    monotonic: c.monotonic,
    sleep: c.sleep,
    ...over,
  };
}

const names = (n: number, ns = 'a') => Array.from({ length: n }, (_, i) => `${ns}/s${String(i).padStart(3, '0')}`);
const live = new AbortController().signal;

describe('reencrypt: every object read and written back unchanged', () => {
  it('writes every object once, across pages and resources, and records a finished run', async () => {
    const k = fakeCluster({ secrets: [...names(7), ...names(2, 'b')], configmaps: names(4) });
    const cp = memoryCheckpoints();
    const s = await reencrypt(k, cp, options(clock(), { resources: [secrets, configmaps] }), live);
    expect(s.interrupted).toBe(false);
    expect(s.resources.map((r) => [r.resource, r.listed, r.rewritten, r.done])).toEqual([
      ['secrets', 9, 9, true],
      ['configmaps', 4, 4, true],
    ]);
    expect([...k.writes.values()].every((n) => n === 1)).toBe(true);
    expect(k.writes.size).toBe(13);
    expect(cp.saved.at(-1)).toMatchObject({ complete: true, resources: { secrets: { done: true, rewritten: 9 } } });
  });

  it('re-reads and retries an object that changed between GET and PUT (409), bounded', async () => {
    const k = fakeCluster({ secrets: names(3) });
    let bumps = 2;
    k.onGet = (_r, key) => {
      // Someone else updates a/s001 right after each of our first two reads.
      if (key === 'a/s001' && bumps-- > 0) setTimeout(() => k.store.get('secrets')?.set(key, 900 + bumps));
    };
    const realGet = k.get.bind(k);
    k.get = async (r, n, sig) => {
      const o = await realGet(r, n, sig);
      await new Promise((res) => setTimeout(res));
      return o;
    };
    const s = await reencrypt(k, memoryCheckpoints(), options(clock()), live);
    expect(s.resources[0]).toMatchObject({ rewritten: 3, conflicts: 2 });
    expect(k.writes.get('secrets/a/s001')).toBe(1);

    const always = fakeCluster({ secrets: names(1) }, (op) =>
      op === 'put' ? new KubeApiError('conflict', 'changed') : undefined,
    );
    await expect(reencrypt(always, memoryCheckpoints(), options(clock()), live)).rejects.toThrow(
      /secrets a\/s000: still changing after 4 attempts/,
    );
    expect(always.calls.get).toBe(4);
  });

  it('skips and counts an object deleted between the list and the GET or the PUT (404)', async () => {
    const k = fakeCluster({ secrets: names(4) });
    k.onGet = (_r, key) => {
      if (key === 'a/s001') k.store.get('secrets')?.delete('a/s002'); // gone before its GET
    };
    const realPut = k.replace.bind(k);
    k.replace = async (r, n, o, sig) => {
      if (n.name === 's003') k.store.get('secrets')?.delete('a/s003'); // gone between GET and PUT
      return realPut(r, n, o, sig);
    };
    const s = await reencrypt(k, memoryCheckpoints(), options(clock()), live);
    expect(s.resources[0]).toMatchObject({ listed: 4, rewritten: 2, deleted: 2, done: true });
  });

  it('lists again after 410 Expired and skips by name what it has done: nothing written twice', async () => {
    let expired = 1;
    const k = fakeCluster({ secrets: names(8) }, (op, _r, token) =>
      op === 'list' && token === 'a/s005' && expired-- > 0 ? new KubeApiError('expired', '410') : undefined,
    );
    const s = await reencrypt(k, memoryCheckpoints(), options(clock()), live);
    expect(s.resources[0]).toMatchObject({ listed: 8, rewritten: 8, listRestarts: 1 });
    expect([...k.writes.values()].every((n) => n === 1)).toBe(true);

    const forever = fakeCluster({ secrets: names(8) }, (op, _r, token) =>
      op === 'list' && token !== '' ? new KubeApiError('expired', '410') : undefined,
    );
    await expect(reencrypt(forever, memoryCheckpoints(), options(clock()), live)).rejects.toThrow(
      /continue token expired 4 times in a row without progress/,
    );
  });

  it('keeps going through any number of 410s as long as objects get done in between (a paced run over a large resource)', async () => {
    const spent = new Set<string>();
    // Every continue token expires the first time it is used, as when etcd compacts under each page.
    const k = fakeCluster({ secrets: names(20) }, (op, _r, token) => {
      if (op !== 'list' || token === '' || token === undefined || spent.has(token)) return undefined;
      spent.add(token);
      return new KubeApiError('expired', '410');
    });
    const s = await reencrypt(k, memoryCheckpoints(), options(clock()), live);
    expect(s.resources[0]).toMatchObject({ rewritten: 20, done: true });
    expect(s.resources[0]?.listRestarts).toBeGreaterThan(4);
    expect([...k.writes.values()].every((n) => n === 1)).toBe(true);
  });

  it('retries 429 and 5xx with backoff, honouring Retry-After, then gives up with the object named', async () => {
    let failures = 3;
    const k = fakeCluster({ secrets: names(2) }, (op, _r, key) => {
      if (op !== 'put' || key !== 'a/s001' || failures-- <= 0) return undefined;
      return failures === 1
        ? new KubeApiError('retryable', '429 Too Many Requests', 7_000)
        : new KubeApiError('retryable', '503');
    });
    const c = clock();
    const s = await reencrypt(k, memoryCheckpoints(), options(c), live);
    expect(s.resources[0]).toMatchObject({ rewritten: 2, retries: 3 });
    expect(c.slept.filter((ms) => ms >= 1)).toEqual([100, 7_000, 400]);

    const down = fakeCluster({ secrets: names(2) }, (op) =>
      op === 'get' ? new KubeApiError('retryable', '503 Service Unavailable') : undefined,
    );
    await expect(reencrypt(down, memoryCheckpoints(), options(clock()), live)).rejects.toThrow(
      'get secrets a/s000: gave up after 4 attempts: 503 Service Unavailable',
    );
    const refused = fakeCluster({ secrets: names(2) }, (op) =>
      op === 'put' ? new KubeApiError('fatal', '403 Forbidden') : undefined,
    );
    await expect(reencrypt(refused, memoryCheckpoints(), options(clock()), live)).rejects.toThrow(
      'update secrets a/s000: 403 Forbidden',
    );
    expect(refused.calls.put).toBe(1);
  });

  it('stops after the object in flight, saves, and a rerun resumes after the last object done', async () => {
    const k = fakeCluster({ secrets: names(10), configmaps: names(3) });
    const cp = memoryCheckpoints();
    const stop = new AbortController();
    const seen: ReencryptProgress[] = [];
    const first = await reencrypt(
      k,
      cp,
      options(clock(), {
        resources: [secrets, configmaps],
        stop: stop.signal,
        onProgress: (p) => {
          seen.push(p);
          if (p.position === 6) stop.abort();
        },
      }),
      live,
    );
    expect(first.interrupted).toBe(true);
    expect(first.resources.map((r) => [r.resource, r.rewritten, r.done])).toEqual([
      ['secrets', 6, false],
      ['configmaps', 0, false],
    ]);
    expect(cp.saved.at(-1)).toMatchObject({ complete: false, resources: { secrets: { after: 'a/s005' } } });
    expect(seen[0]).toMatchObject({ resource: 'secrets', resourceIndex: 1, resourceCount: 2, position: 1, total: 10 });

    const second = await reencrypt(k, cp, options(clock(), { resources: [secrets, configmaps] }), live);
    expect(second.resumed).toBe(true);
    expect(second.resources.map((r) => [r.resource, r.alreadyDone, r.rewritten, r.done])).toEqual([
      ['secrets', 6, 4, true],
      ['configmaps', 0, 3, true],
    ]);
    expect([...k.writes.values()].every((n) => n === 1)).toBe(true);
    expect(cp.saved.at(-1)).toMatchObject({ complete: true, resources: { secrets: { rewritten: 10 } } });

    // A finished run is not resumed: the next one (after the next rotation) starts over.
    const third = await reencrypt(k, cp, options(clock()), live);
    expect(third).toMatchObject({ resumed: false, resumeNote: 'memory records a finished run: starting over' });
    expect(third.resources[0]?.rewritten).toBe(10);
  });

  it('after a kill, redoes at most the objects since the last checkpoint; --restart and another cluster start over', async () => {
    const k = fakeCluster({ secrets: names(10) });
    const cp = memoryCheckpoints();
    // SIGKILL: the process dies between two checkpoints; what was on disk is the last save before.
    let onDisk: ReencryptCheckpoint | undefined;
    const killed = reencrypt(
      k,
      cp,
      options(clock(), {
        checkpointEvery: 4,
        onProgress: (p) => {
          if (p.position !== 7) return;
          onDisk = cp.saved.at(-1);
          throw new Error('killed');
        },
      }),
      live,
    );
    await expect(killed).rejects.toThrow('killed');
    expect(k.writes.size).toBe(7);
    expect(onDisk?.resources.secrets?.after).toBe('a/s003');
    await reencrypt(k, memoryCheckpoints(onDisk), options(clock()), live);
    const twice = [...k.writes].filter(([, n]) => n > 1).map(([key]) => key);
    expect(twice).toEqual(['secrets/a/s004', 'secrets/a/s005', 'secrets/a/s006']);
    expect(twice.length).toBeLessThan(4);
    // A failure in the process (here the same throw) saves what was done: no slack at all.
    expect(cp.saved.at(-1)?.resources.secrets?.after).toBe('a/s006');

    const half = memoryCheckpoints({
      version: 1,
      cluster: k.cluster,
      complete: false,
      resources: { secrets: { after: 'a/s004', done: false, rewritten: 5, deleted: 0 } },
    });
    expect((await reencrypt(k, half, options(clock(), { restart: true }), live)).resources[0]?.rewritten).toBe(10);
    const other = memoryCheckpoints({
      ...(half.saved[0] ?? (await half.load())),
      cluster: 'https://elsewhere:6443',
    } as ReencryptCheckpoint);
    const s = await reencrypt(k, other, options(clock()), live);
    expect(s.resumeNote).toMatch(/is of https:\/\/elsewhere:6443, not https:\/\/fake:6443/);
  });

  it('paces the writes to the rate asked for, with no burst', async () => {
    const k = fakeCluster({ secrets: names(50) });
    const c = clock();
    const s = await reencrypt(k, memoryCheckpoints(), options(c, { objectsPerSecond: 20, pageSize: 7 }), live);
    // 50 objects at 20/s: the first at 0, the last at 49/20 s.
    expect(c.now).toBeCloseTo(2_450, 6);
    expect(s.objectsPerSecond).toBeCloseTo(20.4, 1);
  });

  it('dry run lists and counts, reads and writes no object, saves no checkpoint', async () => {
    const k = fakeCluster({ secrets: names(9), configmaps: names(2) });
    const cp = memoryCheckpoints({
      version: 1,
      cluster: k.cluster,
      complete: false,
      resources: { secrets: { after: 'a/s003', done: false, rewritten: 4, deleted: 0 } },
    });
    const s = await reencrypt(k, cp, options(clock(), { dryRun: true, resources: [secrets, configmaps] }), live);
    expect(s.resources.map((r) => [r.resource, r.listed, r.alreadyDone, r.rewritten])).toEqual([
      ['secrets', 9, 4, 5],
      ['configmaps', 2, 0, 2],
    ]);
    expect(k.calls.get + k.calls.put).toBe(0);
    expect(cp.saved).toEqual([]);
  });

  it('refuses to resume by name from a list that is not in key order', async () => {
    const k = fakeCluster({ secrets: names(4) });
    const realList = k.list.bind(k);
    k.list = async (r, p, sig) => {
      const page = await realList(r, { ...p, limit: 10 }, sig);
      return { items: [...page.items].reverse() };
    };
    await expect(reencrypt(k, memoryCheckpoints(), options(clock()), live)).rejects.toThrow(/not in key order/);
  });
});

describe('parseKubeResource', () => {
  it('maps core and group-qualified names, refuses what is not a resource name', () => {
    expect(parseKubeResource('secrets')).toEqual({ name: 'secrets', group: '', resource: 'secrets' });
    expect(parseKubeResource('Deployments.apps')).toEqual({
      name: 'deployments.apps',
      group: 'apps',
      resource: 'deployments',
    });
    expect(parseKubeResource('foos.example.com')).toMatchObject({ group: 'example.com', resource: 'foos' });
    for (const bad of ['', 'a/b', '-x', 'x.', 'x..y!']) expect(parseKubeResource(bad)).toBeUndefined();
  });
});
