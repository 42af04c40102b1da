import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aSignal } from '../support/builders.js';
import {
  credentialFile,
  type KekSourceTestSettings,
  openKekSourceAdmin,
  openKekSourceWrapper,
  openRemoteAdmin,
  openRemoteWrapper,
  type RemoteTestSettings,
  ringMaterial,
} from '../support/delinea.harness-support.js';
import { type FakeDsv, startFakeDsv } from '../support/fake-delinea-dsv.js';
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

/** A fake DSV tenant (test/support/fake-delinea-dsv.ts) with a client-secret file for kleidi's client. */
async function dsvTenant(): Promise<{ server: FakeDsv; cred: string; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kleidi-delinea-dsv-'));
  const server = await startFakeDsv({ dir });
  return {
    server,
    cred: credentialFile(dir, server.clientSecret),
    close: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

keyWrapperContract({
  name: 'delinea remote (fake DSV encryption as a service)',
  async setup() {
    const dsv = await dsvTenant();
    const settings: RemoteTestSettings = { server: dsv.server, credentialFile: dsv.cred, keyPath: 'kleidi/contract' };
    const admin = await openRemoteAdmin(settings);
    await admin.init(aSignal());
    const wrapper = await openRemoteWrapper(settings);
    return {
      wrapper,
      rotate: async () => void (await admin.rotate(aSignal())),
      teardown: async () => {
        await wrapper.close();
        await admin.close();
        await dsv.close();
      },
    };
  },
});

keyAdminContract({
  name: 'delinea remote (fake DSV encryption as a service)',
  async open() {
    const dsv = await dsvTenant();
    let n = 0;
    return {
      async fresh() {
        // A key path no test used yet: `kleidi init` creates the key behind it.
        const settings: RemoteTestSettings = {
          server: dsv.server,
          credentialFile: dsv.cred,
          keyPath: `kleidi/key-admin-${++n}`,
        };
        const admin = await openRemoteAdmin(settings);
        // No kekMaterial: a DSV key never leaves DSV.
        return {
          admin,
          openAdmin: () => openRemoteAdmin(settings),
          openWrapper: () => openRemoteWrapper(settings),
          teardown: () => admin.close(),
        };
      },
      close: () => dsv.close(),
    };
  },
});
