import { aSignal } from '../support/builders.js';
import { type AzureStack, openAdmin, openWrapper, startAzureStack } from '../support/azure.harness.js';
import { keyAdminContract } from './key-admin.contract.js';
import { keyWrapperContract } from './key-wrapper.contract.js';

/** Key Vault with an RSA key (RSA-OAEP-256), and Managed HSM with an oct-HSM key (A256KW). */
for (const kind of ['vault', 'managedhsm'] as const) {
  const label =
    kind === 'vault'
      ? 'azure Key Vault RSA-OAEP-256 (fake Key Vault, real SDK)'
      : 'azure Managed HSM A256KW (fake Managed HSM, real SDK)';

  keyWrapperContract({
    name: label,
    async setup() {
      const stack = await startAzureStack({ kind });
      const admin = await openAdmin(stack, { keyName: 'contract' });
      await admin.init(aSignal());
      const wrapper = await openWrapper(stack, { keyName: 'contract' });
      return {
        wrapper,
        // kleidi rotate: a new key version (in a later second, so a higher version).
        rotate: async () => void (await admin.rotate(aSignal())),
        teardown: async () => {
          await wrapper.close();
          await admin.close();
          await stack.stop();
        },
      };
    },
  });

  keyAdminContract({
    name: label,
    async open() {
      const stack: AzureStack = await startAzureStack({ kind });
      let n = 0;
      return {
        async fresh() {
          // A key name no test used yet: an empty store that `init` creates the key in.
          const settings = { keyName: `key-admin-${++n}` };
          const admin = await openAdmin(stack, settings);
          // No kekMaterial: a Key Vault key's private part never leaves the vault.
          return {
            admin,
            openAdmin: () => openAdmin(stack, settings),
            openWrapper: () => openWrapper(stack, settings),
            teardown: () => admin.close(),
          };
        },
        close: () => stack.stop(),
      };
    },
  });
}
