import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aSignal } from '../support/builders.js';
import {
  credentialFile,
  type KekSourceTestSettings,
  openKekSourceAdmin,
  openKekSourceWrapper,
  ringMaterial,
} from '../support/delinea.harness-support.js';
import { type FakeSecretServer, startFakeSecretServer } from '../support/fake-delinea.js';
import { keyAdminContract } from './key-admin.contract.js';
import { keyWrapperContract } from './key-wrapper.contract.js';

/** A fake Secret Server (test/support/fake-delinea.ts) with a password file for kleidi's account. */
async function secretServer(): Promise<{ server: FakeSecretServer; cred: string; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kleidi-delinea-'));
  const server = await startFakeSecretServer({ dir });
  return {
    server,
    cred: credentialFile(dir, server.password),
    close: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

keyWrapperContract({
  name: 'delinea kek-source (fake Secret Server)',
  async setup() {
    const ss = await secretServer();
    const settings: KekSourceTestSettings = {
      server: ss.server,
      credentialFile: ss.cred,
      secretId: ss.server.createSecret(),
    };
    const admin = await openKekSourceAdmin(settings);
    await admin.init(aSignal());
    const wrapper = await openKekSourceWrapper(settings);
    return {
      wrapper,
      rotate: async () => void (await admin.rotate(aSignal())),
      teardown: async () => {
        await wrapper.close();
        await admin.close();
        await ss.close();
      },
    };
  },
});

keyAdminContract({
  name: 'delinea kek-source (fake Secret Server)',
  async open() {
    const ss = await secretServer();
    return {
      async fresh() {
        // A new secret with an empty notes field: the store `kleidi init` writes the ring into.
        const secretId = ss.server.createSecret();
        const settings: KekSourceTestSettings = { server: ss.server, credentialFile: ss.cred, secretId };
        const admin = await openKekSourceAdmin(settings);
        return {
          admin,
          openAdmin: () => openKekSourceAdmin(settings),
          openWrapper: () => openKekSourceWrapper(settings),
          kekMaterial: () => Promise.resolve(ringMaterial(ss.server.field(secretId) ?? '')),
          teardown: () => admin.close(),
        };
      },
      close: () => ss.close(),
    };
  },
});
