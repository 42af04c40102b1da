import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VaultTransitKeyWrapper } from '#src/adapters/outbound/vault-transit/vault-transit.key-wrapper.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import { secretFile, setUpTransit, startDevVault, type VaultServer } from '../../support/vault-server.fixture.js';
import { openWrapper } from '../../support/vault-transit.harness.js';

/**
 * Measures wrap+unwrap round trips per second against the real server (both on
 * the same 2-core machine, so the number is relative). Bounded in time; the
 * assertion is only a floor that catches a serialised or reconnecting client.
 */
describe('vault transit throughput', () => {
  let server: VaultServer;
  let w: VaultTransitKeyWrapper;
  beforeAll(async () => {
    server = await startDevVault();
    await setUpTransit(server);
    w = await openWrapper({
      address: server.address,
      auth: { method: 'token', tokenFile: await secretFile(server.dir, 't', 'root') },
    });
  });
  afterAll(async () => {
    await w?.close();
    await server?.stop();
  });

  it.each([1, 16])(
    'round trips with %i concurrent callers',
    async (concurrency) => {
      const v = await w.currentVersion(aSignal());
      const seed = aDataKey();
      const until = Date.now() + 3_000;
      let done = 0;
      const worker = async () => {
        while (Date.now() < until) {
          const back = await w.unwrap(await w.wrap(seed, v, aSignal()), aSignal());
          if (back.length !== seed.length) throw new Error('round trip changed the seed');
          done++;
        }
      };
      const started = Date.now();
      await Promise.all(Array.from({ length: concurrency }, worker));
      const perSecond = Math.round((done * 1_000) / (Date.now() - started));
      console.log(`vault transit: ${perSecond} wrap+unwrap round trips/s with ${concurrency} concurrent callers`);
      expect(perSecond).toBeGreaterThan(20);
    },
    20_000,
  );
});
