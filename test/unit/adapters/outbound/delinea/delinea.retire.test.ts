import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidRequestError, KeyVersionUnknownError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../../../support/builders.js';
import {
  credentialFile,
  type KekSourceTestSettings,
  openKekSourceAdmin,
  openKekSourceWrapper,
} from '../../../../support/delinea.harness-support.js';
import { type FakeSecretServer, startFakeSecretServer } from '../../../../support/fake-delinea.js';

/** kek-source `retire` beyond the lifecycle contract: malformed entries, and what stays in the field. */
describe('delinea kek-source: retire', () => {
  let dir: string;
  let server: FakeSecretServer;
  let cred: string;
  const settings = (secretId: number): KekSourceTestSettings => ({ server, credentialFile: cred, secretId });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-delinea-retire-'));
    server = await startFakeSecretServer({ dir });
    cred = credentialFile(dir, server.password);
  });
  afterAll(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A ring of versions 1 and 2 (current) with a malformed entry of version 3 added by hand in between. */
  async function ringWithMalformed(at: 'between' | 'newest') {
    const id = server.createSecret();
    const admin = await openKekSourceAdmin(settings(id));
    await admin.init(aSignal());
    const doc = JSON.parse(server.field(id) ?? '') as { keys: Record<string, unknown>[] };
    const odd = {
      version: at === 'between' ? 2 : 3,
      id: '00000000000000aa',
      createdAt: '2026-12-06T00:00:00Z',
      material: 'x',
    };
    if (at === 'between') {
      server.setField(id, JSON.stringify({ ...doc, keys: [...doc.keys, odd] }));
      await admin.rotate(aSignal()); // version 3, current
    } else {
      await admin.rotate(aSignal()); // version 2, current
      const now = JSON.parse(server.field(id) ?? '') as { keys: Record<string, unknown>[] };
      server.setField(id, JSON.stringify({ ...now, keys: [...now.keys, odd] }));
    }
    return { id, admin, odd };
  }

  it('removes a malformed older entry, and only it', async () => {
    const { id, admin } = await ringWithMalformed('between');
    expect((await admin.list(aSignal())).map((k) => k.version)).toEqual([1, 2, 3]);
    const retired = await admin.retire(2, aSignal());
    expect(retired.version).toBe(2);
    expect(retired.action).toMatch(/removed from the KEK ring in Secret Server secret \d+ field notes/);
    expect((await admin.list(aSignal())).map((k) => k.version)).toEqual([1, 3]);
    const stored = JSON.parse(server.field(id) ?? '') as { keys: { version: number }[] };
    expect(stored.keys.map((k) => k.version)).toEqual([1, 3]);
    await expect(admin.retire(2, aSignal())).rejects.toBeInstanceOf(KeyVersionUnknownError);
    await admin.close();
  });

  it('refuses a malformed entry above the current version, and keeps it byte for byte', async () => {
    const { id, admin, odd } = await ringWithMalformed('newest');
    const before = server.field(id);
    const err = await admin.retire(3, aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as Error).message).toMatch(/newer than the current KEK \(version 2\)/);
    expect(server.field(id)).toBe(before);
    expect(before).toContain(JSON.stringify(odd));
    await admin.close();
  });

  it('a wrapper that loaded the ring before the retire stops unwrapping at its next refresh', async () => {
    const id = server.createSecret();
    const admin = await openKekSourceAdmin(settings(id));
    const { current: v1 } = await admin.init(aSignal());
    const w = await openKekSourceWrapper(settings(id));
    const seed = aDataKey();
    const wrapped = await w.wrap(seed, v1, aSignal());
    await admin.rotate(aSignal());
    await admin.retire(1, aSignal());
    // Still in memory until the serve loop's refresh (currentVersion) re-reads the field.
    expect(await w.unwrap(wrapped, aSignal())).toEqual(seed);
    await w.currentVersion(aSignal());
    await expect(w.unwrap(wrapped, aSignal())).rejects.toBeInstanceOf(KeyVersionUnknownError);
    await w.close();
    await admin.close();
  });
});
