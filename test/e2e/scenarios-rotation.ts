import { once } from 'node:events';
import { join } from 'node:path';
import type { ApiServer } from './apiserver.js';
import { type Cluster, check, since, stored, storedAll } from './context.js';
import type { KleidiNode, UsageJson } from './kleidi.js';
import { ensureNamespace, listAll } from './kube.js';
import { checkStored, KINDS, readBack, tryWrite, writeBatch } from './ops.js';
import { replace } from './kube.js';
import { waitFor } from './process.js';
import type { Figures } from './scenario.js';

/** Rotates on `node`; resolves with the new key_id once `nodes` all report it in Status. */
export async function rotateAndWait(node: KleidiNode, nodes: readonly KleidiNode[], f: Figures): Promise<string> {
  const old = (await node.status()).keyId;
  const t0 = performance.now();
  await node.rotate();
  for (const n of nodes) if (n !== node) await n.copyKeyringIfLocal(node);
  let fresh = '';
  for (const n of nodes)
    await waitFor(
      `${n.name} reports a new key_id`,
      async () => {
        fresh = (await n.status()).keyId;
        return fresh !== old;
      },
      60_000,
      250,
    );
  f.kleidiSeesNewKeySeconds = since(t0);
  return fresh;
}

/** Writes through `api` every second until a write is stored under `keyId`; seconds from `t0`. */
export async function firstWriteUnder(c: Cluster, api: ApiServer, keyId: string, t0: number): Promise<number> {
  await waitFor(
    `${api.name}: a write under key_id ${keyId}`,
    async () => {
      const name = await tryWrite(c, api, 'rot');
      return name !== null && (await stored(c.etcd, 'secrets', name)).keyId === keyId;
    },
    // At most 1 minute until the apiserver's next Status poll (kmsv2PluginHealthzPositiveInterval,
    // k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go), plus kleidi's refresh.
    150_000,
    1_000,
  );
  return since(t0);
}

/** `kleidi rotate` under a serving apiserver: new writes under the new key_id, old data readable. */
export async function rotation(c: Cluster, f: Figures): Promise<void> {
  const before = [...c.written.keys()];
  const oldKey = (await c.kleidi.status()).keyId;
  const t0 = performance.now();
  const newKey = await rotateAndWait(c.kleidi, [c.kleidi], f);
  f.firstWriteUnderNewKeySeconds = await firstWriteUnder(c, c.api, newKey, t0);
  await checkStored(c, await writeBatch(c, c.api, 'rotated', 2), newKey);
  f.oldObjectsReadBack = await readBack(c, c.api, before);
  const stillOld = [...(await storedAll(c.etcd, 'secrets')).values()].filter((o) => o.keyId === oldKey).length;
  check(stillOld > 0, 'no object left under the old key_id before the rewrite');
  f.oldKeyId = oldKey;
  f.newKeyId = newKey;
  await usageMatchesEtcd(c, f, 'afterRotation');
}

/**
 * `kleidi usage` against what this apiserver stored: its count per key_id equals the count
 * read straight from etcd and decoded here (test/e2e/envelope.ts), kind by kind.
 */
async function usageMatchesEtcd(c: Cluster, f: Figures, label: string): Promise<UsageJson> {
  const expected = new Map<string, number>();
  let objects = 0;
  for (const kind of KINDS)
    for (const o of (await storedAll(c.etcd, kind)).values()) {
      expected.set(o.keyId, (expected.get(o.keyId) ?? 0) + 1);
      objects++;
    }
  const { report, seconds } = await c.kleidi.usage(c.etcd.url, KINDS);
  const seen = new Map(report.keyIds.filter((k) => k.provider === c.provider).map((k) => [k.keyId, k.count]));
  check(report.scanned === objects, `kleidi usage scanned ${report.scanned} objects, etcd holds ${objects}`);
  check(
    JSON.stringify([...seen].sort()) === JSON.stringify([...expected].sort()),
    `kleidi usage counts ${JSON.stringify([...seen])}, etcd holds ${JSON.stringify([...expected])}`,
  );
  f[`${label}UsageObjects`] = report.scanned;
  f[`${label}UsageSeconds`] = seconds;
  return report;
}

/** The storage rewrite after a rotation: every object read and written back; none left under an old key_id. */
export async function rewrite(c: Cluster, f: Figures): Promise<void> {
  const { keyId } = await c.kleidi.status();
  const t0 = performance.now();
  let n = 0;
  for (const kind of KINDS)
    for (const obj of await listAll(c.api, kind)) {
      await replace(c.api, kind, obj);
      n++;
    }
  f.objectsRewritten = n;
  f.rewriteSeconds = since(t0);
  for (const kind of KINDS)
    for (const [key, obj] of await storedAll(c.etcd, kind))
      check(obj.keyId === keyId, `${key} still under key_id ${obj.keyId} after the rewrite (current ${keyId})`);
  f.objectsReadBack = await readBack(c, c.api);
  // The runbook's check (docs/operations.md): kleidi usage shows the old key_id at zero.
  const report = await usageMatchesEtcd(c, f, 'afterRewrite');
  if (typeof f.oldKeyId === 'string') {
    const old = f.oldKeyId;
    check(!report.keyIds.some((k) => k.keyId === old), `kleidi usage still shows objects under ${old}`);
    if (c.backend === 'local')
      check(
        report.unusedVersions.some((v) => v.keyId === old),
        `kleidi usage does not list ${old} as holding nothing`,
      );
  }
}

/**
 * The rotation runbook end to end on the real control plane (docs/operations.md): `kleidi rotate`,
 * wait until the apiserver writes under the new key_id, `kleidi retire` of the previous version
 * refused while objects remain under it (its count equals etcd's), `kleidi reencrypt`,
 * `kleidi usage` showing nothing under the old key_id (its counts equal etcd's), `kleidi retire`
 * allowed, and every object still readable through the apiserver.
 */
export async function retire(c: Cluster, f: Figures): Promise<void> {
  await ensureNamespace(c.api);
  await writeBatch(c, c.api, 'pre-retire', 3);
  const prev = (await c.kleidi.status()).keyId;
  const t0 = performance.now();
  const next = await rotateAndWait(c.kleidi, [c.kleidi], f);
  await firstWriteUnder(c, c.api, next, t0);
  const versions = await c.kleidi.keys();
  const version = versions.find((k) => k.keyId === prev)?.version;
  check(version !== undefined, `kleidi keys does not list ${prev}`);
  let under = 0;
  for (const kind of KINDS) for (const o of (await storedAll(c.etcd, kind)).values()) if (o.keyId === prev) under++;
  check(under > 0, `no object under ${prev} to hold the retire back`);

  const refused = await c.kleidi.retire(version, c.etcd.url);
  check(
    refused.code === 3,
    `retire ${version} with ${under} objects under it exited ${refused.code}: ${refused.stderr}`,
  );
  const remaining = refused.verdict.refusals?.find((r) => r.kind === 'objects-remaining');
  check(remaining?.count === under, `retire counted ${remaining?.count} objects under ${prev}, etcd holds ${under}`);
  f.retireRefusedWithObjects = under;
  check(
    (await c.kleidi.keys()).some((k) => k.keyId === prev),
    `${prev} is gone although retire refused`,
  );

  // The runbook's rewrite and check (docs/operations.md steps 7 and 8): kleidi reencrypt, then
  // kleidi usage shows nothing left under the old key_id.
  const kubeconfig = join(c.dir, 'retire.kubeconfig');
  await c.api.writeKubeconfig(kubeconfig);
  const reencrypt = c.kleidi.spawnCli('reencrypt', [
    ...['--kubeconfig', kubeconfig, '--resources', KINDS.join(','), '--state', join(c.dir, 'retire.state.json')],
    ...['--rate', '5000', '--output', 'json'],
  ]);
  reencrypt.stdout?.resume();
  reencrypt.stderr?.resume();
  const [code] = (await once(reencrypt, 'exit')) as [number | null];
  check(code === 0, `kleidi reencrypt exited ${code}`);
  const afterRewrite = await usageMatchesEtcd(c, f, 'afterReencrypt');
  check(!afterRewrite.keyIds.some((k) => k.keyId === prev), `kleidi usage still shows objects under ${prev}`);
  const t1 = performance.now();
  const done = await c.kleidi.retire(version, c.etcd.url);
  f.retireSeconds = since(t1);
  check(
    done.code === 0 && done.verdict.retired,
    `retire ${version} after the rewrite exited ${done.code}: ${done.stderr}`,
  );
  f.retireAction = done.verdict.action ?? '';
  f.objectsReadBackAfterRetire = await readBack(c, c.api);
  const current = (await c.kleidi.keys()).find((k) => k.current);
  check(current?.keyId === next, `current version is ${current?.keyId}, expected ${next}`);
  const refusedCurrent = await c.kleidi.retire(current.version, c.etcd.url);
  check(refusedCurrent.code === 3, `retire of the current version exited ${refusedCurrent.code}`);
}

/** Two apiservers with two kleidis on one etcd: each reads the other's writes, before and after a rotation. */
export async function ha(c: Cluster, f: Figures): Promise<void> {
  const b = await c.newKleidi('kleidi-b');
  await b.start();
  const apiB = await c.newApiServer('apiserver-b', b);
  try {
    f.secondApiserverStartSeconds = await apiB.start();
    const fromA = await writeBatch(c, c.api, 'ha-a', 2);
    const fromB = await writeBatch(c, apiB, 'ha-b', 2);
    await readBack(c, apiB, fromA);
    await readBack(c, c.api, fromB);
    const t0 = performance.now();
    const newKey = await rotateAndWait(c.kleidi, [c.kleidi, b], f);
    f.apiserverAFirstWriteUnderNewKeySeconds = await firstWriteUnder(c, c.api, newKey, t0);
    f.apiserverBFirstWriteUnderNewKeySeconds = await firstWriteUnder(c, apiB, newKey, t0);
    const afterA = await writeBatch(c, c.api, 'ha-a2', 2);
    const afterB = await writeBatch(c, apiB, 'ha-b2', 2);
    await checkStored(c, [...afterA, ...afterB], newKey);
    f.crossReadsAfterRotation = (await readBack(c, apiB, afterA)) + (await readBack(c, c.api, afterB));
    f.allObjectsReadThroughB = await readBack(c, apiB);
  } finally {
    await apiB.stop();
    await b.stop();
  }
}
