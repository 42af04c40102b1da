import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import { VAULT_TOKEN_ENV, VaultConfigSchema, vaultBackend } from '#src/composition/backends/vault.js';
import type { BackendContext } from '#src/composition/backends/backend.js';
import { aDataKey, aSignal, recordingLogger } from '../../support/builders.js';
import { secretFile, setUpTransit, startDevVault, type VaultServer } from '../../support/vault-server.fixture.js';

/** The backend definition as the composition root uses it: config section in, wrapper and admin out. */
describe('vault backend definition against a real server', () => {
  let server: VaultServer;
  const ctx = (env: Record<string, string> = {}): BackendContext => ({
    logger: recordingLogger(),
    clock: systemClock,
    stateDir: '/nonexistent',
    env,
  });
  beforeAll(async () => {
    server = await startDevVault();
    await server.api('POST', 'sys/mounts/transit', { type: 'transit' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('init, serve and rotate from env-shaped settings with a token file', async () => {
    const config = VaultConfigSchema.parse({
      address: server.address,
      tokenFile: await secretFile(server.dir, 't', 'root'),
      callTimeoutMs: '2000',
    });
    const admin = await vaultBackend.openAdmin(config, ctx());
    const { created, current } = await admin.init(aSignal());
    expect(created).toBe(true);
    const w = await vaultBackend.openWrapper(config, ctx());
    expect((await w.currentVersion(aSignal())).keyId).toBe(current.keyId);
    const seed = aDataKey();
    const wrapped = await w.wrap(seed, current, aSignal());
    const next = await admin.rotate(aSignal());
    expect((await w.currentVersion(aSignal())).keyId).toBe(next.keyId);
    expect(await w.unwrap(wrapped, aSignal())).toEqual(seed);
    await w.close();
    await admin.close();
  });

  it(`takes the token from ${VAULT_TOKEN_ENV} when no file is configured`, async () => {
    await setUpTransit(server, 'transit2');
    const config = VaultConfigSchema.parse({ address: server.address, mount: 'transit2' });
    const w = await vaultBackend.openWrapper(config, ctx({ [VAULT_TOKEN_ENV]: 'root' }));
    expect((await w.currentVersion(aSignal())).version).toBe(1);
    await w.close();
  });
});
