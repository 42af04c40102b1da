import { describe, expect, it } from 'vitest';
import type { KeyId } from '#src/domain/model/key-id.js';
import type { KeyVersionInfo } from '#src/domain/model/key-version.js';
import type { UsageCell } from '#src/domain/model/usage.js';
import {
  CLOCK_SKEW_MS,
  decideRetire,
  type RetireQuestion,
  type RetireRefusal,
  type ScanEvidence,
} from '#src/domain/model/retire-decision.js';

const NOW = new Date('2026-12-06T01:00:00.000Z');
const MIN = 60_000;
const key = (version: number, extra: Partial<KeyVersionInfo> = {}): KeyVersionInfo => ({
  keyId: `local:v${version}:k${version}` as KeyId,
  version,
  current: false,
  ...extra,
});
/** v1 and v2 old, v3 current: the state after two rotations. */
const KEYS = [key(1), key(2), key(3, { current: true })];

function scan(cells: Record<string, UsageCell[]>, extra: Partial<ScanEvidence> = {}): ScanEvidence {
  const resources = Object.entries(cells).map(([resource, cs]) => ({
    resource,
    total: cs.reduce((n, c) => n + c.count, 0),
    cells: cs,
  }));
  const byId = new Map<string, number>();
  for (const r of resources)
    for (const c of r.cells) if (c.keyId) byId.set(c.keyId, (byId.get(c.keyId) ?? 0) + c.count);
  return {
    prefix: '/registry',
    scannedAt: new Date(NOW.getTime() - 2 * MIN).toISOString(),
    onlyResources: [],
    revision: 100,
    scanned: resources.reduce((n, r) => n + r.total, 0),
    elapsedMs: 500,
    resources,
    keyIds: [...byId].map(([keyId, count]) => ({ provider: 'kleidi', keyId, count })),
    unusedVersions: [],
    ...extra,
  };
}
const kms = (version: number, count: number, provider = 'kleidi'): UsageCell => ({
  kind: 'kms-v2',
  provider,
  keyId: `local:v${version}:k${version}`,
  count,
});
/** Everything rewritten under v3: v1 and v2 hold nothing. */
const CLEAN = scan({ secrets: [kms(3, 50)], configmaps: [{ kind: 'identity', count: 9 }, kms(3, 4)] });

const ask = (q: Partial<RetireQuestion> = {}) =>
  decideRetire({
    keys: KEYS,
    version: 1,
    scan: CLEAN,
    now: NOW,
    maxScanAgeMs: 15 * MIN,
    force: false,
    retireInOrder: false,
    ...q,
  });
const kinds = (rs: readonly RetireRefusal[]) => rs.map((r) => r.kind);
function refusals(q: Partial<RetireQuestion>): readonly RetireRefusal[] {
  const d = ask(q);
  if (d.allowed) throw new Error('expected a refusal');
  return d.refusals;
}

describe('decideRetire: a version is retired only on a fresh, whole scan that shows nothing under it', () => {
  it('allows an old version the scan shows empty, and names it', () => {
    expect(ask()).toEqual({ allowed: true, target: KEYS[0], overridden: [] });
    expect(ask({ version: 2 })).toMatchObject({ allowed: true, target: KEYS[1] });
  });

  it('refuses the current version, a staged one, a retired one and one the backend does not list, even with --force', () => {
    for (const force of [false, true]) {
      expect(refusals({ version: 3, force })[0]).toEqual({ kind: 'current' });
      expect(refusals({ version: 9, force })).toEqual([{ kind: 'unknown-version' }]);
      const keys = [key(1, { note: 'retired' }), key(2, { current: true }), key(3, { note: 'staged' })];
      expect(refusals({ keys, version: 3, force })[0]).toEqual({ kind: 'staged' });
      expect(refusals({ keys, version: 1, force })).toEqual([{ kind: 'retired' }]);
      // pkcs11 joins several notes with "; ": the state is found among them.
      const joined = [key(1), key(2, { current: true }), key(3, { note: 'staged; 2 objects share this version' })];
      expect(refusals({ keys: joined, version: 3, force })[0]).toEqual({ kind: 'staged' });
    }
    expect(ask({ version: 9 })).not.toHaveProperty('target');
    expect(ask({ version: 3 })).toMatchObject({ allowed: false, target: KEYS[2] });
  });

  it('where versions retire oldest first, refuses while an older version is live', () => {
    expect(refusals({ version: 2, retireInOrder: true, force: true })).toEqual([{ kind: 'older-live', versions: [1] }]);
    const keys = [key(1, { note: 'retired' }), key(2), key(3, { current: true })];
    expect(ask({ keys, version: 2, retireInOrder: true }).allowed).toBe(true);
  });

  it('refuses while a running plugin reports the version, an older one or an unlisted key_id as current, even with --force', () => {
    const serving = (keyId: string) => [{ where: '/run/kleidi/kms.sock', keyId }];
    expect(ask({ serving: serving('local:v3:k3') }).allowed).toBe(true);
    expect(ask({ version: 2, serving: serving('local:v3:k3') }).allowed).toBe(true);
    expect(refusals({ version: 2, serving: serving('local:v2:k2'), force: true })).toEqual([
      { kind: 'plugin-behind', where: '/run/kleidi/kms.sock', keyId: 'local:v2:k2', version: 2 },
    ]);
    expect(refusals({ version: 2, serving: serving('local:v1:k1') })).toEqual([
      { kind: 'plugin-behind', where: '/run/kleidi/kms.sock', keyId: 'local:v1:k1', version: 1 },
    ]);
    expect(refusals({ serving: serving('local:v9:elsewhere') })).toEqual([
      { kind: 'plugin-behind', where: '/run/kleidi/kms.sock', keyId: 'local:v9:elsewhere' },
    ]);
  });

  it('refuses while objects remain under the version, with their count per resource, whatever the provider name', () => {
    const s = scan({
      secrets: [kms(1, 700), kms(3, 20)],
      configmaps: [kms(1, 3, 'kleidi-old-name'), kms(2, 4)],
      widgets: [kms(3, 1)],
    });
    expect(refusals({ scan: s })).toEqual([
      {
        kind: 'objects-remaining',
        keyId: 'local:v1:k1',
        count: 703,
        resources: [
          { resource: 'secrets', count: 700 },
          { resource: 'configmaps', count: 3 },
        ],
      },
    ]);
    expect(refusals({ scan: s, version: 2 })).toEqual([
      { kind: 'objects-remaining', keyId: 'local:v2:k2', count: 4, resources: [{ resource: 'configmaps', count: 4 }] },
    ]);
  });

  it('--force retires with objects remaining and says which refusals it set aside', () => {
    const s = scan({ secrets: [kms(1, 2), kms(3, 5)] });
    const d = ask({ scan: s, force: true });
    expect(d).toEqual({
      allowed: true,
      target: KEYS[0],
      overridden: [
        { kind: 'objects-remaining', keyId: 'local:v1:k1', count: 2, resources: [{ resource: 'secrets', count: 2 }] },
      ],
    });
  });

  it('refuses without any scan, even with --force', () => {
    expect(refusals({ scan: undefined })).toEqual([{ kind: 'no-scan' }]);
    expect(refusals({ scan: undefined, force: true })).toEqual([{ kind: 'no-scan' }]);
  });

  it('refuses a scan older than the maximum age, even with --force; the limit itself still passes', () => {
    const old = { ...CLEAN, scannedAt: new Date(NOW.getTime() - 15 * MIN - 1).toISOString() };
    for (const force of [false, true]) {
      expect(refusals({ scan: old, force })).toEqual([
        { kind: 'scan-too-old', ageMs: 15 * MIN + 1, maxAgeMs: 15 * MIN },
      ]);
    }
    const edge = { ...CLEAN, scannedAt: new Date(NOW.getTime() - 15 * MIN).toISOString() };
    expect(ask({ scan: edge }).allowed).toBe(true);
    expect(ask({ scan: old, maxScanAgeMs: 60 * MIN }).allowed).toBe(true);
  });

  it('refuses a scan without a time, or with a time further ahead than clock skew, even with --force', () => {
    const { scannedAt: _gone, ...undated } = CLEAN;
    expect(refusals({ scan: undated, force: true })).toEqual([{ kind: 'scan-undated' }]);
    expect(refusals({ scan: { ...CLEAN, scannedAt: 'yesterday-ish' } })).toEqual([{ kind: 'scan-undated' }]);
    const ahead = (ms: number) => ({ ...CLEAN, scannedAt: new Date(NOW.getTime() + ms).toISOString() });
    expect(ask({ scan: ahead(CLOCK_SKEW_MS) }).allowed).toBe(true);
    expect(refusals({ scan: ahead(CLOCK_SKEW_MS + 1), force: true })).toEqual([
      { kind: 'scan-in-future', aheadMs: CLOCK_SKEW_MS + 1 },
    ]);
  });

  it('refuses a scan restricted to some resources, or one that does not say, even with --force', () => {
    const partial = { ...CLEAN, onlyResources: ['secrets', 'configmaps'] };
    expect(refusals({ scan: partial, force: true })).toEqual([
      { kind: 'scan-partial', onlyResources: ['secrets', 'configmaps'] },
    ]);
    const { onlyResources: _gone, ...unscoped } = CLEAN;
    expect(refusals({ scan: unscoped })).toEqual([{ kind: 'scan-partial', onlyResources: ['(not recorded)'] }]);
  });

  it('refuses while objects cannot be attributed to a key_id; --force accepts them like remaining objects', () => {
    const reason = 'kms-v2 value of provider kleidi is not an EncryptedObject';
    const s = scan({ secrets: [kms(3, 5), { kind: 'unknown', reason, count: 2 }], configmaps: [kms(3, 1)] });
    const expected = { kind: 'unattributed', count: 2, resources: [{ resource: 'secrets', count: 2, reason }] };
    expect(refusals({ scan: s })).toEqual([expected]);
    expect(ask({ scan: s, force: true })).toMatchObject({ allowed: true, overridden: [expected] });
  });

  it('refuses a scan that saw nothing under any of the backend key_ids (the wrong etcd or prefix), even with --force', () => {
    const elsewhere = scan(
      { secrets: [{ kind: 'identity', count: 3 }, kms(7, 2, 'vault')] },
      { prefix: '/kubernetes' },
    );
    expect(refusals({ scan: elsewhere })).toEqual([{ kind: 'no-kleidi-data', scanned: 5, prefix: '/kubernetes' }]);
    expect(ask({ scan: elsewhere, force: true })).toMatchObject({
      allowed: false,
      refusals: [{ kind: 'no-kleidi-data' }],
    });
    expect(refusals({ scan: scan({}) })).toEqual([{ kind: 'no-kleidi-data', scanned: 0, prefix: '/registry' }]);
  });

  it('lists every refusal at once, and --force sets aside only the objects', () => {
    const s = scan(
      { secrets: [kms(1, 1), { kind: 'unknown', reason: 'x', count: 1 }] },
      { scannedAt: new Date(NOW.getTime() - 20 * MIN).toISOString(), onlyResources: ['secrets'] },
    );
    expect(kinds(refusals({ scan: s }))).toEqual(['scan-too-old', 'scan-partial', 'objects-remaining', 'unattributed']);
    expect(kinds(refusals({ scan: s, force: true }))).toEqual([
      'scan-too-old',
      'scan-partial',
      'objects-remaining',
      'unattributed',
    ]);
    expect(kinds(refusals({ version: 3, scan: s }))).toEqual([
      'current',
      'scan-too-old',
      'scan-partial',
      'unattributed',
    ]);
  });
});
