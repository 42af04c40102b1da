import { describe, expect, it } from 'vitest';
import { InMemoryKeyWrapper } from '#src/adapters/outbound/in-memory/in-memory.key-wrapper.js';
import { KeyUnusableError, OperationUnsupportedError } from '#src/domain/model/errors.js';
import type { KeyVersion, KeyVersionInfo } from '#src/domain/model/key-version.js';
import { retireVersion, type RetireRun } from '#src/domain/services/retire-version.js';
import { scanUsage } from '#src/domain/services/usage-scan.js';
import type { StoredObjectSource } from '#src/ports/outbound/stored-objects.port.js';
import { aDataKey, aSignal } from '../../../support/builders.js';
import { kmsV2Value } from '../../../support/stored-values.js';

const NOW = new Date('2026-12-06T01:00:00.000Z');
const MIN = 60_000;

/** An in-process etcd stand-in: a mutable key space the real scan reads in pages. */
class Store implements StoredObjectSource {
  readonly data = new Map<string, Uint8Array>();
  async *pages(prefix: string) {
    yield {
      revision: 5,
      objects: [...this.data].filter(([k]) => k.startsWith(prefix)).map(([key, value]) => ({ key, value })),
    };
  }
  close = async () => undefined;
}

/** The in-memory reference KeyAdmin with v1..v3 (v3 current), and a store holding `under1` Secrets under v1. */
async function cluster(under1: number) {
  const admin = new InMemoryKeyWrapper(() => NOW);
  const v1 = (await admin.init(aSignal())).current;
  const v2 = await admin.rotate(aSignal());
  const v3 = await admin.rotate(aSignal());
  const store = new Store();
  const put = (name: string, v: KeyVersion) =>
    store.data.set(`/registry/secrets/ns/${name}`, kmsV2Value('kleidi', v.keyId));
  for (let i = 0; i < under1; i++) put(`old${i}`, v1);
  for (let i = 0; i < 5; i++) put(`new${i}`, v3);
  let scans = 0;
  const run = (over: Partial<RetireRun> = {}): RetireRun => ({
    version: 1,
    force: false,
    maxScanAgeMs: 15 * MIN,
    now: () => NOW,
    scan: async (keys: readonly KeyVersionInfo[]) => {
      scans++;
      return scanUsage(
        store,
        {
          prefix: '/registry',
          resources: [],
          pageSize: 100,
          maxKeysPerSecond: 1e9,
          versions: keys,
          monotonic: () => 0,
          now: () => NOW,
        },
        aSignal(),
      );
    },
    ...over,
  });
  return { admin, v1, v2, v3, store, put, run, scans: () => scans };
}

const brief = (keys: readonly KeyVersionInfo[]) => keys.map((k) => [k.version, k.current, k.note]);

describe('retireVersion with the in-memory reference KeyAdmin', () => {
  it('refuses while the scan shows objects under the version, showing the scan, and changes nothing', async () => {
    const c = await cluster(3);
    const before = brief(await c.admin.list(aSignal()));
    const out = await retireVersion(c.admin, c.run(), aSignal());
    expect(out.decision).toMatchObject({
      allowed: false,
      refusals: [
        { kind: 'objects-remaining', keyId: c.v1.keyId, count: 3, resources: [{ resource: 'secrets', count: 3 }] },
      ],
    });
    expect(out.scan?.keyIds.find((k) => k.keyId === c.v1.keyId)).toMatchObject({ count: 3, version: 1 });
    expect(out.retired).toBeUndefined();
    expect(brief(await c.admin.list(aSignal()))).toEqual(before);
  });

  it('retires once the objects are rewritten under the current version: data under v1 no longer unwraps', async () => {
    const c = await cluster(3);
    const sealed = await c.admin.wrap(aDataKey(), c.v1, aSignal());
    for (let i = 0; i < 3; i++) c.put(`old${i}`, c.v3);
    const out = await retireVersion(c.admin, c.run(), aSignal());
    expect(out.decision).toMatchObject({ allowed: true, overridden: [] });
    expect(out.retired).toMatchObject({ version: 1, keyId: c.v1.keyId, action: 'forgotten by this process' });
    expect(brief(await c.admin.list(aSignal()))).toEqual([
      [1, false, 'retired'],
      [2, false, undefined],
      [3, true, undefined],
    ]);
    await expect(c.admin.unwrap(sealed, aSignal())).rejects.toBeInstanceOf(KeyUnusableError);
    // Retired, it is refused before any scan.
    const again = await retireVersion(c.admin, c.run(), aSignal());
    expect(again.decision).toMatchObject({ allowed: false, refusals: [{ kind: 'retired' }] });
    expect(c.scans()).toBe(1);
  });

  it('refuses the current version and an unknown one from the key list alone, without scanning', async () => {
    const c = await cluster(0);
    const current = await retireVersion(c.admin, c.run({ version: 3, force: true }), aSignal());
    expect(current).toEqual({
      backend: 'in-memory',
      decision: { allowed: false, target: expect.objectContaining({ version: 3 }), refusals: [{ kind: 'current' }] },
    });
    const unknown = await retireVersion(c.admin, c.run({ version: 8 }), aSignal());
    expect(unknown.decision).toEqual({ allowed: false, refusals: [{ kind: 'unknown-version' }] });
    expect(c.scans()).toBe(0);
    expect(brief(await c.admin.list(aSignal())).map(([, , note]) => note)).toEqual([undefined, undefined, undefined]);
  });

  it('--force retires with objects remaining, and reports them as overridden', async () => {
    const c = await cluster(2);
    const out = await retireVersion(c.admin, c.run({ force: true }), aSignal());
    expect(out.decision).toMatchObject({ allowed: true, overridden: [{ kind: 'objects-remaining', count: 2 }] });
    expect(out.retired?.version).toBe(1);
  });

  it('refuses a saved scan older than the maximum age even with --force, and retires nothing', async () => {
    const c = await cluster(0);
    const fresh = await c.run().scan(await c.admin.list(aSignal()));
    const saved = { ...fresh, scannedAt: new Date(NOW.getTime() - 16 * MIN).toISOString() };
    const out = await retireVersion(c.admin, c.run({ force: true, scan: async () => saved }), aSignal());
    expect(out.decision).toMatchObject({ allowed: false, refusals: [{ kind: 'scan-too-old', ageMs: 16 * MIN }] });
    expect(out.retired).toBeUndefined();
    expect(brief(await c.admin.list(aSignal()))[0]).toEqual([1, false, undefined]);
  });

  it('a backend that cannot retire one version is refused before any scan, with --force too', async () => {
    const c = await cluster(0);
    // The in-memory reference as a store without retire (Delinea remote's answer).
    const unable = Object.assign(Object.create(c.admin) as InMemoryKeyWrapper, { retiring: false });
    await expect(retireVersion(unable, c.run({ force: true }), aSignal())).rejects.toBeInstanceOf(
      OperationUnsupportedError,
    );
    expect(c.scans()).toBe(0);
    expect((await c.admin.list(aSignal())).map((k) => k.note)).not.toContain('retired');
  });

  it('retires nothing when the version changed under it during the scan (a keyring copied in meanwhile)', async () => {
    const c = await cluster(0);
    let swapped: KeyVersionInfo[] | undefined;
    const admin = Object.assign(Object.create(c.admin) as InMemoryKeyWrapper, {
      list: async (signal: AbortSignal) => swapped ?? c.admin.list(signal),
    });
    const run = c.run();
    const scanning = run.scan;
    const r = retireVersion(
      admin,
      {
        ...run,
        scan: async (keys) => {
          const report = await scanning(keys);
          swapped = keys.map((k) => (k.version === 1 ? { ...k, keyId: 'in-memory:other:v1' as typeof k.keyId } : k));
          return report;
        },
      },
      aSignal(),
    );
    await expect(r).rejects.toThrow(/version 1 changed during the scan .* nothing retired/);
    expect((await c.admin.list(aSignal())).map((k) => k.note)).not.toContain('retired');
  });

  it('a failing scan fails the run before anything is retired', async () => {
    const c = await cluster(0);
    const boom = c.run({ scan: () => Promise.reject(new Error('etcd at http://127.0.0.1:1 is unavailable')) });
    await expect(retireVersion(c.admin, boom, aSignal())).rejects.toThrow('unavailable');
    expect(brief(await c.admin.list(aSignal()))[0]).toEqual([1, false, undefined]);
  });
});
