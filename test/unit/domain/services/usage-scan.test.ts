import { describe, expect, it } from 'vitest';
import type { KeyId } from '#src/domain/model/key-id.js';
import { scanUsage } from '#src/domain/services/usage-scan.js';
import type { StoredObjectPage, StoredObjectSource } from '#src/ports/outbound/stored-objects.port.js';
import { identityProtobuf, kmsV2Value, prefixedValue } from '../../../support/stored-values.js';

/** Pages from a list, as a unit-test source (the etcd adapter is tested against a real etcd). */
function source(
  objects: { key: string; value: Uint8Array }[],
  pageSize = 2,
): StoredObjectSource & { asked: [string, number | undefined][] } {
  const s = {
    asked: [] as [string, number | undefined][],
    async *pages(prefix: string, o: { revision?: number }): AsyncIterable<StoredObjectPage> {
      s.asked.push([prefix, o.revision]);
      const below = objects.filter((x) => x.key.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));
      for (let i = 0; i < below.length; i += pageSize) {
        yield { objects: below.slice(i, i + pageSize), revision: o.revision || 42 };
      }
    },
    close: async () => undefined,
  };
  return s;
}

const v = (version: number, keyId: string, current: boolean) => ({ version, keyId: keyId as KeyId, current });
const NOW = new Date('2026-12-06T01:00:00.000Z');
const opts = {
  prefix: '/registry',
  resources: [],
  pageSize: 2,
  maxKeysPerSecond: 1e9,
  monotonic: () => 0,
  now: () => NOW,
};

describe('scanUsage: which providers and key_ids the stored objects depend on', () => {
  const objects = [
    { key: '/registry/configmaps/a/c1', value: kmsV2Value('kleidi', 'local:v2:b') },
    { key: '/registry/configmaps/a/c2', value: identityProtobuf() },
    { key: '/registry/secrets/a/s1', value: kmsV2Value('kleidi', 'local:v1:a') },
    { key: '/registry/secrets/a/s2', value: kmsV2Value('kleidi', 'local:v1:a') },
    { key: '/registry/secrets/a/s3', value: kmsV2Value('kleidi', 'local:v2:b') },
    { key: '/registry/secrets/b/s4', value: prefixedValue('aescbc:v1', 'key1') },
    { key: '/registry/secrets/b/s5', value: new TextEncoder().encode('garbage') },
  ];

  it('counts per resource and per key_id, names kleidi versions, and lists versions that hold nothing', async () => {
    const versions = [v(1, 'local:v1:a', false), v(2, 'local:v2:b', true), v(3, 'local:v3:c', false)];
    const seen: number[] = [];
    const r = await scanUsage(
      source(objects),
      { ...opts, versions, onProgress: (n) => seen.push(n) },
      new AbortController().signal,
    );
    expect(r.revision).toBe(42);
    expect(r.scannedAt).toBe('2026-12-06T01:00:00.000Z');
    expect(r.onlyResources).toEqual([]);
    expect(r.scanned).toBe(7);
    expect(seen).toEqual([2, 4, 6, 7]);
    expect(r.resources).toEqual([
      {
        resource: 'configmaps',
        total: 2,
        cells: [
          { kind: 'identity', count: 1 },
          { kind: 'kms-v2', provider: 'kleidi', keyId: 'local:v2:b', version: 2, current: true, count: 1 },
        ],
      },
      {
        resource: 'secrets',
        total: 5,
        cells: [
          { kind: 'kms-v2', provider: 'kleidi', keyId: 'local:v1:a', version: 1, current: false, count: 2 },
          { kind: 'aescbc', provider: 'key1', count: 1 },
          { kind: 'kms-v2', provider: 'kleidi', keyId: 'local:v2:b', version: 2, current: true, count: 1 },
          { kind: 'unknown', reason: 'neither an encryption prefix nor a Kubernetes serialization', count: 1 },
        ],
      },
    ]);
    expect(r.keyIds).toEqual([
      { provider: 'kleidi', keyId: 'local:v1:a', count: 2, version: 1, current: false },
      { provider: 'kleidi', keyId: 'local:v2:b', count: 2, version: 2, current: true },
    ]);
    expect(r.unusedVersions).toEqual([{ version: 3, keyId: 'local:v3:c', current: false }]);
  });

  it('reads only the ranges of the resources asked for, at one revision; no versions when none were given', async () => {
    const src = source(objects);
    const r = await scanUsage(
      src,
      { ...opts, resources: ['configmaps', 'widgets.example.com'] },
      new AbortController().signal,
    );
    expect(src.asked).toEqual([
      ['/registry/configmaps/', 0],
      ['/registry/example.com/widgets/', 42],
    ]);
    expect(r.scanned).toBe(2);
    expect(r.onlyResources).toEqual(['configmaps', 'widgets.example.com']);
    expect(r.resources.map((x) => x.resource)).toEqual(['configmaps']);
    expect(r.keyIds).toEqual([{ provider: 'kleidi', keyId: 'local:v2:b', count: 1 }]);
    expect(r.unusedVersions).toEqual([]);
  });

  it('holds counts, not objects: 200,000 keys leave as many cells as kinds of storage', async () => {
    const big: StoredObjectSource = {
      async *pages() {
        const page = Array.from({ length: 1000 }, (_, i) => ({
          key: `/registry/secrets/ns/s${i}`,
          value: kmsV2Value('kleidi', `local:v${(i % 3) + 1}:x`),
        }));
        for (let p = 0; p < 200; p++) yield { objects: page, revision: 7 };
      },
      close: async () => undefined,
    };
    const r = await scanUsage(big, opts, new AbortController().signal);
    expect(r.scanned).toBe(200_000);
    expect(r.resources[0]?.cells.map((c) => c.count)).toEqual([66_800, 66_600, 66_600]);
  }, 60_000);
});
