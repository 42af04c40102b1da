import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import { Pkcs11KeyAdmin } from '#src/adapters/outbound/pkcs11/pkcs11.key-admin.js';
import { aDataKey, aSignal, recordingLogger } from '../support/builders.js';
import { NodeCallError, startPkcs11Node, type Pkcs11Node } from '../support/pkcs11-node.js';
import { softHsmFixture, type SoftHsmFixture } from '../support/softhsm.fixture.js';

const clock = systemClock;

/** `kleidi init`, run once on the first node. */
async function init(fx: SoftHsmFixture): Promise<void> {
  const admin = await Pkcs11KeyAdmin.open(fx.options(), recordingLogger(), clock);
  await admin.init(aSignal());
  await admin.close();
}

/**
 * Several nodes (docs/adr/0004-pkcs11-key-versions.md): three plugin processes run at the same time, each with
 * its own SOFTHSM2_CONF. Nodes A and B hold byte-for-byte copies of one token
 * directory (the documented SoftHSM procedure); node C ran its own
 * `kleidi init` with the same labels, as per-node init containers do.
 */
describe('pkcs11 on several control-plane nodes (SoftHSM2 token copies, separate processes)', () => {
  const fixtures: SoftHsmFixture[] = [];
  const nodes: Pkcs11Node[] = [];
  let a: Pkcs11Node;
  let b: Pkcs11Node;
  let c: Pkcs11Node;
  beforeAll(async () => {
    const tokenA = await softHsmFixture({ label: 'cluster' });
    fixtures.push(tokenA);
    await init(tokenA);
    const tokenB = await tokenA.cloneTo();
    const tokenC = await softHsmFixture({ label: 'cluster' });
    fixtures.push(tokenB, tokenC);
    await init(tokenC);
    [a, b, c] = await Promise.all([startPkcs11Node(tokenA), startPkcs11Node(tokenB), startPkcs11Node(tokenC)]);
    nodes.push(a, b, c);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    for (const f of fixtures) await f.cleanup();
  });

  it('reports the same key_id on nodes with the same key and decrypts across them', async () => {
    const [va, vb] = await Promise.all([a.version(), b.version()]);
    expect(vb).toEqual(va);
    const seedA = aDataKey();
    const seedB = aDataKey();
    const fromA = await a.wrap(seedA, va);
    const fromB = await b.wrap(seedB, vb);
    expect(await b.unwrap(fromA)).toEqual(seedA);
    expect(await a.unwrap(fromB)).toEqual(seedB);
  });

  it('shows a different key_id on a node with a different key, and answers NOT_FOUND there', async () => {
    const [va, vc] = await Promise.all([a.version(), c.version()]);
    expect(vc.version).toBe(va.version);
    expect(vc.keyId).not.toBe(va.keyId);
    const fromA = await a.wrap(aDataKey(), va);
    const refused = await c.unwrap(fromA).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NodeCallError);
    expect((refused as NodeCallError).kind).toBe('key-version-unknown');
  });
});
