import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import { Pkcs11KeyAdmin } from '#src/adapters/outbound/pkcs11/pkcs11.key-admin.js';
import { Pkcs11KeyWrapper } from '#src/adapters/outbound/pkcs11/pkcs11.key-wrapper.js';
import type { KeyVersion } from '#src/domain/model/key-version.js';
import { aDataKey, aSignal, recordingLogger } from '../support/builders.js';
import { softHsmFixture, type SoftHsmFixture } from '../support/softhsm.fixture.js';

const clock = systemClock;
const CONCURRENT = 1_000;
const ms = (ns: number) => (ns / 1e6).toFixed(2);

/**
 * Figures for a human reader of the test log; printed, not asserted (shared 2-core CI
 * machines make timing assertions flaky). Each call gets a generous deadline
 * for the same reason: the point is "no error", not speed.
 */
describe('pkcs11 adapter under load on SoftHSM2', () => {
  let fx: SoftHsmFixture;
  let wrapper: Pkcs11KeyWrapper;
  let v: KeyVersion;
  beforeAll(async () => {
    fx = await softHsmFixture({ label: 'load' });
    const options = fx.options({ callTimeoutMs: 60_000 });
    const admin = await Pkcs11KeyAdmin.open(options, recordingLogger(), clock);
    await admin.init(aSignal());
    await admin.close();
    wrapper = await Pkcs11KeyWrapper.open(options, recordingLogger(), clock);
    v = await wrapper.currentVersion(aSignal());
  });
  afterAll(async () => {
    await wrapper?.close();
    await fx?.cleanup();
  });

  it(`answers ${CONCURRENT} concurrent wrap+unwrap requests without error, off the event loop`, async () => {
    const seeds = Array.from({ length: CONCURRENT }, () => aDataKey());
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const started = performance.now();
    const results = await Promise.allSettled(
      seeds.map(async (seed) => wrapper.unwrap(await wrapper.wrap(seed, v, aSignal(60_000)), aSignal(60_000))),
    );
    const elapsed = performance.now() - started;
    delay.disable();

    const failures = results.filter((r) => r.status === 'rejected');
    expect(failures).toEqual([]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : undefined))).toEqual(seeds);
    console.log(
      `[pkcs11/SoftHSM2] ${CONCURRENT} concurrent round trips (wrap+unwrap) in ${elapsed.toFixed(0)} ms = ` +
        `${((CONCURRENT / elapsed) * 1000).toFixed(0)} round trips/s; event-loop delay ` +
        `p50 ${ms(delay.percentile(50))} ms, p99 ${ms(delay.percentile(99))} ms, max ${ms(delay.max)} ms`,
    );
  }, 120_000);

  it('reports sequential round-trip throughput (one call at a time)', async () => {
    const n = 500;
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const seed = aDataKey();
      expect(await wrapper.unwrap(await wrapper.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
    }
    const elapsed = performance.now() - started;
    console.log(
      `[pkcs11/SoftHSM2] ${n} sequential round trips in ${elapsed.toFixed(0)} ms = ` +
        `${((n / elapsed) * 1000).toFixed(0)} round trips/s (${((elapsed / n) * 1000).toFixed(0)} µs each)`,
    );
  }, 120_000);
});
