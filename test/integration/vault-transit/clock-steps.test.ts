import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VaultTransitKeyWrapper } from '#src/adapters/outbound/vault-transit/vault-transit.key-wrapper.js';
import { aDataKey, aSignal, recordingLogger } from '../../support/builders.js';
import { startCountingProxy, type CountingProxy } from '../../support/counting-proxy.js';
import { FakeClock } from '../../support/fake-clock.js';
import { minimalPolicy, setUpAppRole, writePolicy } from '../../support/vault-auth.fixture.js';
import { secretFile, setUpTransit, startDevVault, type VaultServer } from '../../support/vault-server.fixture.js';
import { openWrapper } from '../../support/vault-transit.harness.js';

const HOUR = 3_600_000;

async function roundTrip(w: VaultTransitKeyWrapper): Promise<void> {
  const v = await w.currentVersion(aSignal());
  const seed = aDataKey();
  expect(await w.unwrap(await w.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
}

describe('the Vault token expiry runs on the monotonic clock (real Vault, AppRole, 1 h tokens)', () => {
  let server: VaultServer;
  let proxy: CountingProxy;
  let approle: Awaited<ReturnType<typeof setUpAppRole>>;
  beforeAll(async () => {
    server = await startDevVault();
    await setUpTransit(server);
    await writePolicy(server, 'kleidi', minimalPolicy());
    approle = await setUpAppRole(server, { token_policies: ['kleidi'], token_ttl: '1h' });
    proxy = await startCountingProxy(server.address);
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
  });

  async function open(clock: FakeClock, name: string) {
    const roleIdFile = await secretFile(server.dir, `rid-${name}`, approle.roleId);
    const secretIdFile = await secretFile(server.dir, `sid-${name}`, await approle.newSecretId());
    return openWrapper(
      { address: proxy.address, auth: { method: 'approle', mount: 'approle', roleIdFile, secretIdFile } },
      recordingLogger(),
      clock,
    );
  }

  it('a wall clock stepped 2 h forward neither expires the token nor blocks calls behind the login gate', async () => {
    const clock = new FakeClock();
    const w = await open(clock, 'forward');
    await roundTrip(w);
    const logins = proxy.count('/v1/auth/approle/login');
    clock.stepWall(2 * HOUR);
    await roundTrip(w);
    expect(w.details().logins).toBe(1);
    expect(proxy.count('/v1/auth/approle/login')).toBe(logins);
    // Health details still show the expiry in wall time: about an hour from the (stepped) now.
    const left = Date.parse(w.details().tokenExpiresAt ?? '') - clock.now();
    expect(left).toBeGreaterThan(HOUR - 60_000);
    expect(left).toBeLessThanOrEqual(HOUR);
    await w.close();
  });

  it('a wall clock stepped 1 h back does not keep a token whose TTL has run out', async () => {
    const clock = new FakeClock();
    const w = await open(clock, 'backward');
    await roundTrip(w);
    clock.stepWall(-HOUR);
    clock.advance(HOUR + 1_000); // the 1 h TTL runs out on the monotonic clock; the wall clock shows +1 s
    await roundTrip(w);
    expect(w.details().logins).toBe(2);
    await w.close();
  });
});
