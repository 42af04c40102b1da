import { aSignal } from '../support/builders.js';
import { openAdmin, openWrapper } from '../support/aws-kms.harness.js';
import { startLocalKms, useTestCredentials } from '../support/local-kms.fixture.js';
import { keyAdminContract } from './key-admin.contract.js';
import { keyWrapperContract } from './key-wrapper.contract.js';

keyWrapperContract({
  name: 'aws (real local-kms)',
  async setup() {
    const kms = await startLocalKms();
    useTestCredentials(kms.dir);
    const settings = { endpoint: kms.endpoint, key: 'alias/contract' };
    const admin = await openAdmin(settings);
    await admin.init(aSignal());
    const wrapper = await openWrapper(settings);
    return {
      wrapper,
      // kleidi rotate: a new key, the alias moved to it (in a later second, so a higher version).
      rotate: async () => void (await admin.rotate(aSignal())),
      teardown: async () => {
        await wrapper.close();
        await admin.close();
        await kms.stop();
      },
    };
  },
});

keyAdminContract({
  name: 'aws (real local-kms)',
  async open() {
    const kms = await startLocalKms();
    useTestCredentials(kms.dir);
    let n = 0;
    return {
      async fresh() {
        // An alias no test used yet: an empty store that `init` creates a key behind.
        const settings = { endpoint: kms.endpoint, key: `alias/key-admin-${++n}` };
        const admin = await openAdmin(settings);
        // No kekMaterial: a KMS key's material never leaves KMS.
        return {
          admin,
          openAdmin: () => openAdmin(settings),
          openWrapper: () => openWrapper(settings),
          teardown: () => admin.close(),
        };
      },
      close: () => kms.stop(),
    };
  },
});
