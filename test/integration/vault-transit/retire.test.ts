import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendMisconfiguredError, KeyUnusableError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import { createToken, minimalPolicy, writePolicy } from '../../support/vault-auth.fixture.js';
import { secretFile, startDevVault, type VaultServer } from '../../support/vault-server.fixture.js';
import { openAdmin, openWrapper, type TestSettings } from '../../support/vault-transit.harness.js';

/** What `kleidi retire` does to a real transit key beyond the lifecycle contract. */
describe('vault transit: retire', () => {
  let server: VaultServer;
  let root: string;
  let n = 0;

  beforeAll(async () => {
    server = await startDevVault();
    await server.api('POST', 'sys/mounts/transit', { type: 'transit' });
    root = await secretFile(server.dir, 'root-token', server.rootToken);
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** A new key with three versions, through kleidi init and rotate. */
  async function threeVersions(): Promise<TestSettings & { key: string }> {
    const key = `retire-${++n}`;
    const settings = { address: server.address, key, auth: { method: 'token' as const, tokenFile: root } };
    const admin = await openAdmin(settings);
    await admin.init(aSignal());
    await admin.rotate(aSignal());
    await admin.rotate(aSignal());
    await admin.close();
    return settings;
  }

  async function keyConfig(key: string): Promise<{ min_decryption_version: number; min_encryption_version: number }> {
    const r = await server.api('GET', `transit/keys/${key}`);
    return r.data as { min_decryption_version: number; min_encryption_version: number };
  }

  it('raises min_encryption_version with min_decryption_version when it would fall below it', async () => {
    const s = await threeVersions();
    await server.api('POST', `transit/keys/${s.key}/config`, { min_encryption_version: 1 });
    const admin = await openAdmin(s);
    const retired = await admin.retire(1, aSignal());
    await admin.close();
    expect(retired.action).toMatch(/min_decryption_version raised to 2 \(and min_encryption_version with it\)/);
    expect(await keyConfig(s.key)).toMatchObject({ min_decryption_version: 2, min_encryption_version: 2 });
  });

  it('leaves an unset min_encryption_version (0) alone', async () => {
    const s = await threeVersions();
    const admin = await openAdmin(s);
    await admin.retire(1, aSignal());
    await admin.close();
    expect(await keyConfig(s.key)).toMatchObject({ min_decryption_version: 2, min_encryption_version: 0 });
  });

  it('is undone by lowering min_decryption_version: the archived version decrypts again', async () => {
    const s = await threeVersions();
    const w = await openWrapper(s);
    const admin = await openAdmin(s);
    const v1 = (await admin.list(aSignal()))[0];
    if (!v1) throw new Error('no versions listed');
    const seed = aDataKey();
    const wrapped = await w.wrap(seed, v1, aSignal());
    await admin.retire(1, aSignal());
    const after = await openWrapper(s);
    await expect(after.unwrap(wrapped, aSignal())).rejects.toBeInstanceOf(KeyUnusableError);
    expect((await admin.list(aSignal())).map((k) => k.version)).toEqual([2, 3]);
    await server.api('POST', `transit/keys/${s.key}/config`, { min_decryption_version: 1 });
    const again = await openWrapper(s);
    expect(await again.unwrap(wrapped, aSignal())).toEqual(seed);
    expect((await admin.list(aSignal())).map((k) => k.version)).toEqual([1, 2, 3]);
    await Promise.all([w.close(), after.close(), again.close(), admin.close()]);
  });

  it("names the config path when kleidi's policy may not update it, and changes nothing", async () => {
    const s = await threeVersions();
    await writePolicy(server, `serve-${s.key}`, minimalPolicy('transit', s.key));
    const token = await secretFile(server.dir, `token-${s.key}`, await createToken(server, [`serve-${s.key}`]));
    const admin = await openAdmin({ ...s, auth: { method: 'token', tokenFile: token } });
    const err = await admin.retire(1, aSignal()).catch((e: unknown) => e);
    await admin.close();
    expect(err).toBeInstanceOf(BackendMisconfiguredError);
    expect((err as Error).message).toContain(`update\` capability on transit/keys/${s.key}/config`);
    expect((await keyConfig(s.key)).min_decryption_version).toBe(1);
  });
});
