import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import type { VaultTransitKeyWrapper } from '#src/adapters/outbound/vault-transit/vault-transit.key-wrapper.js';
import { BackendUnavailableError } from '#src/domain/model/errors.js';
import type { KeyVersion } from '#src/domain/model/key-version.js';
import { KeyStateTracker } from '#src/domain/services/key-state-tracker.js';
import { aDataKey, aSignal, recordingLogger } from '../../support/builders.js';
import { minimalPolicy, setUpAppRole, writePolicy } from '../../support/vault-auth.fixture.js';
import { startFileVault, type FileVault } from '../../support/vault-file-server.fixture.js';
import { secretFile, setUpTransit } from '../../support/vault-server.fixture.js';
import { openWrapper } from '../../support/vault-transit.harness.js';

/** Well inside kube-apiserver's 3 s KMS deadline, so the apiserver gets UNAVAILABLE rather than a timeout. */
const FAST_MS = 1_500;

async function failsFast(w: VaultTransitKeyWrapper, v: KeyVersion): Promise<void> {
  const started = Date.now();
  const err = await w.wrap(aDataKey(), v, aSignal()).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BackendUnavailableError);
  expect(Date.now() - started).toBeLessThan(FAST_MS);
}

/**
 * A production-mode Vault (file storage, Shamir unseal) sealed and unsealed,
 * stopped and started: kleidi reports UNAVAILABLE quickly, its health turns
 * bad with a reason, and everything recovers with no action on kleidi's side.
 */
describe('vault outage: file-storage server sealed, stopped, restarted', () => {
  let vault: FileVault;
  let w: VaultTransitKeyWrapper;
  let tracker: KeyStateTracker;
  let v: KeyVersion;

  beforeAll(async () => {
    vault = await startFileVault();
    await setUpTransit(vault);
    await writePolicy(vault, 'kleidi', minimalPolicy());
    const role = await setUpAppRole(vault, { token_policies: ['kleidi'], token_ttl: '1h' });
    w = await openWrapper({
      address: vault.address,
      auth: {
        method: 'approle',
        mount: 'approle',
        roleIdFile: await secretFile(vault.dir, 'rid', role.roleId),
        secretIdFile: await secretFile(vault.dir, 'sid', await role.newSecretId()),
      },
    });
    tracker = new KeyStateTracker(w, systemClock, recordingLogger(), 60_000);
    expect((await tracker.refresh(aSignal())).healthy).toBe(true);
    v = await w.currentVersion(aSignal());
  }, 120_000);
  afterAll(async () => {
    await w?.close();
    await vault?.stop();
  });

  it('sealed: UNAVAILABLE fast, unhealthy with a reason, recovers after unseal', async () => {
    await vault.seal();
    await failsFast(w, v);
    const h = await tracker.refresh(aSignal());
    expect(h.healthy).toBe(false);
    expect(h.reason).toMatch(/backend-unavailable: .*Vault is not serving \(503/);
    expect(tracker.status().healthz).not.toBe('ok');
    expect(tracker.status().keyId).toBe(v.keyId); // Status keeps answering with the last key_id

    await vault.unseal();
    expect((await tracker.refresh(aSignal())).healthy).toBe(true);
    expect(tracker.status().healthz).toBe('ok');
  });

  it('stopped: UNAVAILABLE fast; restarted sealed, then unsealed: recovers by itself', async () => {
    const seed = aDataKey();
    const before = await w.wrap(seed, v, aSignal());
    await vault.kill();
    await failsFast(w, v);
    expect((await tracker.refresh(aSignal())).reason).toMatch(/backend-unavailable: .*unreachable \(ECONNREFUSED\)/);

    await vault.restart();
    await failsFast(w, v);
    await vault.unseal();
    expect((await tracker.refresh(aSignal())).healthy).toBe(true);
    expect(await w.unwrap(before, aSignal())).toEqual(seed);
    // The token lives in Vault's storage, so it survived the restart: no new login was needed.
    expect(w.details().logins).toBe(1);
  }, 60_000);
});
