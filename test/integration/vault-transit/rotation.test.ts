import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VaultTransitKeyWrapper } from '#src/adapters/outbound/vault-transit/vault-transit.key-wrapper.js';
import { KeyUnusableError, KeyVersionUnknownError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import { openAdmin, openWrapper, type TestSettings } from '../../support/vault-transit.harness.js';
import { secretFile, setUpTransit, startDevVault, type VaultServer } from '../../support/vault-server.fixture.js';

/** Rotation done in Vault (not through kleidi) while the wrapper keeps serving. */
describe('vault transit: rotation and key_id', () => {
  let server: VaultServer;
  let settings: TestSettings;
  let w: VaultTransitKeyWrapper;

  beforeAll(async () => {
    server = await startDevVault();
    await setUpTransit(server);
    settings = {
      address: server.address,
      auth: { method: 'token', tokenFile: await secretFile(server.dir, 'token', 'root') },
    };
    w = await openWrapper(settings);
  });
  afterAll(async () => {
    await w?.close();
    await server?.stop();
  });

  it("derives key_id from mount, key, version and that version's creation time", async () => {
    const v = await w.currentVersion(aSignal());
    const key = await server.api('GET', 'transit/keys/kleidi');
    const created = (key.data as { keys: Record<string, number> }).keys['1'];
    expect(v.keyId).toBe(`vault:transit:kleidi:v1:${created}`);
    expect(v.version).toBe(1);
  });

  it('picks up a rotation made through the transit API, and still unwraps older data', async () => {
    const before = await w.currentVersion(aSignal());
    const seed = aDataKey();
    const old = await w.wrap(seed, before, aSignal());
    await server.api('POST', 'transit/keys/kleidi/rotate');
    const after = await w.currentVersion(aSignal());
    expect(after.version).toBe(before.version + 1);
    expect(after.keyId).toMatch(new RegExp(`^vault:transit:kleidi:v${after.version}:\\d+$`));
    // wrap keeps using exactly the version it is given, even when it is no longer the latest
    const stillOld = await w.wrap(seed, before, aSignal());
    expect(new TextDecoder().decode((stillOld.payload as { blob: Uint8Array }).blob)).toMatch(/^vault:v1:/);
    expect(await w.unwrap(old, aSignal())).toEqual(seed);
    expect(await w.unwrap(await w.wrap(seed, after, aSignal()), aSignal())).toEqual(seed);
  });

  it('says which version is needed when min_decryption_version excludes a ciphertext', async () => {
    const admin = await openAdmin(settings);
    const v1 = (await admin.list(aSignal()))[0];
    await admin.close();
    if (!v1) throw new Error('no versions listed');
    const seed = aDataKey();
    const wrapped = await w.wrap(seed, v1, aSignal());
    await server.api('POST', 'transit/keys/kleidi/config', { min_decryption_version: 2 });
    const err = await w.unwrap(wrapped, aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyUnusableError);
    expect((err as Error).message).toMatch(
      /needs transit key version 1.*min_decryption_version .* is 2; lower it to 1/,
    );
    await server.api('POST', 'transit/keys/kleidi/config', { min_decryption_version: 1 });
    // Fresh metadata reads for versions the cache cannot explain happen at most once a second.
    await new Promise((ok) => setTimeout(ok, 1_100));
    expect(await w.unwrap(wrapped, aSignal())).toEqual(seed);
  });

  it('never reuses a key_id when the key is deleted and recreated', async () => {
    await server.api('POST', 'sys/mounts/other', { type: 'transit' });
    await server.api('POST', 'other/keys/k', {});
    const s2 = { ...settings, mount: 'other', key: 'k' };
    const w2 = await openWrapper(s2);
    const first = await w2.currentVersion(aSignal());
    const wrapped = await w2.wrap(aDataKey(), first, aSignal());
    await server.api('POST', 'other/keys/k/config', { deletion_allowed: true });
    await server.api('DELETE', 'other/keys/k');
    await new Promise((ok) => setTimeout(ok, 1_100)); // creation times have one-second resolution
    await server.api('POST', 'other/keys/k', {});
    const second = await w2.currentVersion(aSignal());
    expect(second.version).toBe(first.version);
    expect(second.keyId).not.toBe(first.keyId);
    await expect(w2.unwrap(wrapped, aSignal())).rejects.toBeInstanceOf(KeyVersionUnknownError);
    await expect(w2.wrap(aDataKey(), first, aSignal())).rejects.toBeInstanceOf(KeyVersionUnknownError);
    await w2.close();
  });

  it('lists versions through the admin, oldest first, current last', async () => {
    const admin = await openAdmin(settings);
    const list = await admin.list(aSignal());
    expect(list.map((v) => v.version)).toEqual([1, 2]);
    expect(list.map((v) => v.current)).toEqual([false, true]);
    expect(list[0]?.note).toBe('decrypt-only');
    const rotated = await admin.rotate(aSignal());
    expect(rotated.version).toBe(3);
    expect((await w.currentVersion(aSignal())).keyId).toBe(rotated.keyId);
    await admin.close();
  });
});

describe('vault transit: init', () => {
  it('creates the key when missing and leaves an existing one alone', async () => {
    const server = await startDevVault();
    try {
      await server.api('POST', 'sys/mounts/transit', { type: 'transit' });
      const tokenFile = await secretFile(server.dir, 'token', 'root');
      const admin = await openAdmin({ address: server.address, auth: { method: 'token', tokenFile } });
      const first = await admin.init(aSignal());
      expect(first.created).toBe(true);
      const key = await server.api('GET', 'transit/keys/kleidi');
      expect((key.data as { type: string }).type).toBe('aes256-gcm96');
      const again = await admin.init(aSignal());
      expect(again).toEqual({ created: false, current: first.current });
      await admin.close();
    } finally {
      await server.stop();
    }
  });
});
