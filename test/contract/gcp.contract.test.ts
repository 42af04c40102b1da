import { aSignal } from '../support/builders.js';
import { GCP_KEY_RING, startGcpKms } from '../support/gcp-kms.fixture.js';
import { openAdmin, openWrapper } from '../support/gcp-kms.harness.js';
import { keyAdminContract } from './key-admin.contract.js';
import { keyWrapperContract } from './key-wrapper.contract.js';

keyWrapperContract({
  name: 'gcp (Cloud KMS test server, real client)',
  async setup() {
    const kms = await startGcpKms();
    const settings = { key: `${GCP_KEY_RING}/cryptoKeys/contract` };
    const admin = await openAdmin(kms, settings);
    await admin.init(aSignal());
    const wrapper = await openWrapper(kms, settings);
    return {
      wrapper,
      // kleidi rotate: a new CryptoKeyVersion, made primary.
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
  name: 'gcp (Cloud KMS test server, real client)',
  async open() {
    const kms = await startGcpKms();
    let n = 0;
    return {
      async fresh() {
        // A key no test used yet: an empty store that `init` creates.
        const settings = { key: `${GCP_KEY_RING}/cryptoKeys/key-admin-${++n}` };
        const admin = await openAdmin(kms, settings);
        // No kekMaterial: a Cloud KMS key's material never leaves Cloud KMS.
        return {
          admin,
          openAdmin: () => openAdmin(kms, settings),
          openWrapper: () => openWrapper(kms, settings),
          teardown: () => admin.close(),
        };
      },
      close: () => kms.stop(),
    };
  },
});
