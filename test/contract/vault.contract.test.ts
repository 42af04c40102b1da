import { aSignal } from '../support/builders.js';
import { openAdmin, openWrapper } from '../support/vault-transit.harness.js';
import { secretFile, setUpTransit, startDevVault } from '../support/vault-server.fixture.js';
import { keyAdminContract } from './key-admin.contract.js';
import { keyWrapperContract } from './key-wrapper.contract.js';

keyWrapperContract({
  name: 'vault transit (real Vault dev server)',
  async setup() {
    const server = await startDevVault();
    // A non-default mount path proves the generic read/write path (node-vault's helpers hard-code /transit).
    await setUpTransit(server, 'kms/transit', 'contract');
    const tokenFile = await secretFile(server.dir, 'token', server.rootToken);
    const settings = {
      address: server.address,
      mount: 'kms/transit',
      key: 'contract',
      auth: { method: 'token' as const, tokenFile },
    };
    const wrapper = await openWrapper(settings);
    const admin = await openAdmin(settings);
    return {
      wrapper,
      rotate: async () => void (await admin.rotate(aSignal())),
      teardown: async () => {
        await wrapper.close();
        await admin.close();
        await server.stop();
      },
    };
  },
});

keyAdminContract({
  name: 'vault transit (real Vault dev server)',
  async open() {
    const server = await startDevVault();
    const mount = 'kms/transit';
    await server.api('POST', `sys/mounts/${mount}`, { type: 'transit' });
    const tokenFile = await secretFile(server.dir, 'token', server.rootToken);
    let n = 0;
    return {
      async fresh() {
        // A key name no test used yet: an empty store that `init` creates.
        const key = `key-admin-${++n}`;
        const settings = { address: server.address, mount, key, auth: { method: 'token' as const, tokenFile } };
        const admin = await openAdmin(settings);
        return {
          admin,
          openAdmin: () => openAdmin(settings),
          openWrapper: () => openWrapper(settings),
          // Marking the key exportable (irreversible, fine for a test key) lets the test learn every version's bytes.
          kekMaterial: async () => {
            await server.api('POST', `${mount}/keys/${key}/config`, { exportable: true });
            const res = await server.api('GET', `${mount}/export/encryption-key/${key}`);
            const keys = (res.data as { keys: Record<string, string> }).keys;
            return Object.values(keys).map((b64) => new Uint8Array(Buffer.from(b64, 'base64')));
          },
          teardown: () => admin.close(),
        };
      },
      close: () => server.stop(),
    };
  },
});
