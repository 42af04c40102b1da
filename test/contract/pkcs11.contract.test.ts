import { Pkcs11KeyAdmin } from '../../src/adapters/outbound/pkcs11/pkcs11.key-admin.js';
import { Pkcs11KeyWrapper } from '../../src/adapters/outbound/pkcs11/pkcs11.key-wrapper.js';
import { aSignal, recordingLogger } from '../support/builders.js';
import { softHsmFixture } from '../support/softhsm.fixture.js';
import { keyWrapperContract } from './key-wrapper.contract.js';

const clock = { now: () => Date.now() };

keyWrapperContract({
  name: 'pkcs11 on SoftHSM2',
  async setup() {
    const fx = await softHsmFixture({ label: 'contract' });
    const log = recordingLogger();
    const options = fx.options();
    const admin = await Pkcs11KeyAdmin.open(options, log, clock);
    await admin.init(aSignal());
    const wrapper = await Pkcs11KeyWrapper.open(options, log, clock);
    return {
      wrapper,
      rotate: async () => void (await admin.rotate(aSignal())),
      teardown: async () => {
        await wrapper.close();
        await admin.close();
        await fx.cleanup();
      },
    };
  },
});
