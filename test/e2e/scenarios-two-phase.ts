import { type Cluster, check, since } from './context.js';
import type { KleidiNode } from './kleidi.js';
import { checkStored, readBack, tryRead, writeBatch } from './ops.js';
import { waitFor } from './process.js';
import type { Figures } from './scenario.js';
import { firstWriteUnder } from './scenarios-rotation.js';

/** Waits until `node` reports `keyId` in Status (after its refresh); the seconds from `t0`. */
async function reports(node: KleidiNode, keyId: string, t0: number): Promise<number> {
  await waitFor(`${node.name} reports key_id ${keyId}`, async () => (await node.status()).keyId === keyId, 60_000, 250);
  return since(t0);
}

/**
 * Two control-plane nodes whose keys are copied (docs/operations.md, two-phase rotation), on the
 * real kube-apiserver: first a one-step `kleidi rotate` whose copy reaches the second node late —
 * the failure two-phase rotation exists for (reads through the late node fail) — then
 * stage → copy → promote on node A → node B, which has the version only staged, reads everything
 * A writes under it → promote on B. With pkcs11 both nodes use one token, so nothing is copied and
 * no node is late: the scenario then checks the staging itself.
 */
export async function haTwoPhase(c: Cluster, f: Figures): Promise<void> {
  const b = await c.newKleidi('kleidi-late');
  await b.start();
  const apiB = await c.newApiServer('apiserver-late', b);
  const copied = c.backend === 'local';
  try {
    f.secondApiserverStartSeconds = await apiB.start();

    if (copied) {
      // One step, distributed late.
      const t0 = performance.now();
      await c.kleidi.rotate();
      const next = (await c.kleidi.keys()).find((k) => k.current)?.keyId;
      check(next !== undefined, 'kleidi keys lists no current version after a rotate');
      await reports(c.kleidi, next, t0);
      await firstWriteUnder(c, c.api, next, t0);
      const fromA = await writeBatch(c, c.api, 'one-step', 2);
      await checkStored(c, fromA, next);
      let failed = 0;
      for (const key of fromA) if (!(await tryRead(c, apiB, key))) failed++;
      f.oneStepReadsFailingThroughLateNode = `${failed}/${fromA.length}`;
      check(failed > 0, 'a one-step rotation copied late broke no read through the late node: the premise is gone');
      await b.copyKeyringFrom(c.kleidi);
      const t1 = performance.now();
      await waitFor(
        'reads through the late node after its copy landed',
        async () => {
          for (const key of fromA) if (!(await tryRead(c, apiB, key))) return false;
          return true;
        },
        120_000,
        1_000,
      );
      f.oneStepReadsRecoverSeconds = since(t1);
      await firstWriteUnder(c, apiB, next, t1);
    }

    // Two phases.
    const before = (await c.kleidi.status()).keyId;
    const staged = await c.kleidi.stage();
    const listed = await c.kleidi.keys();
    check(
      listed.find((k) => k.keyId === staged.keyId)?.current === false,
      `${staged.keyId} is current right after --stage`,
    );
    if (copied) await b.copyKeyringFrom(c.kleidi); // the staged version reaches B; B's current is unchanged
    await writeBatch(c, c.api, 'staged', 1);
    check((await c.kleidi.status()).keyId === before, 'node A switched key_id on --stage');

    const t2 = performance.now();
    await c.kleidi.promote(staged.version);
    f.promotedNodeReportsSeconds = await reports(c.kleidi, staged.keyId, t2);
    f.promotedNodeFirstWriteSeconds = await firstWriteUnder(c, c.api, staged.keyId, t2);
    const fromA = await writeBatch(c, c.api, 'two-phase', 3);
    await checkStored(c, fromA, staged.keyId);
    if (copied) {
      check((await b.status()).keyId === before, 'the late node switched before it promoted');
      const fromB = await writeBatch(c, apiB, 'late-old', 1);
      await checkStored(c, fromB, before);
      f.lateNodeReadsOfPromotedWrites = await readBack(c, apiB, fromA);
      f.promotedNodeReadsOfLateWrites = await readBack(c, c.api, fromB);
    }

    const t3 = performance.now();
    if (copied) await b.promote(staged.version);
    f.lateNodeReportsSeconds = await reports(b, staged.keyId, t3);
    f.lateNodeFirstWriteSeconds = await firstWriteUnder(c, apiB, staged.keyId, t3);
    f.allObjectsReadThroughLateNode = await readBack(c, apiB);
    f.allObjectsReadThroughPromotedNode = await readBack(c, c.api);
  } finally {
    await apiB.stop();
    await b.stop();
  }
}
