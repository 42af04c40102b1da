import { aSignal } from '../support/builders.js';
import { openAdmin, openWrapper } from '../support/vault-transit.harness.js';
import { secretFile, setUpTransit, startDevVault } from '../support/vault-server.fixture.js';
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
