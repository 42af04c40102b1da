import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import { Pkcs11KeyAdmin } from '#src/adapters/outbound/pkcs11/pkcs11.key-admin.js';
import { Pkcs11KeyWrapper } from '#src/adapters/outbound/pkcs11/pkcs11.key-wrapper.js';
import { aSignal, recordingLogger } from '../support/builders.js';
import { softHsmFixture } from '../support/softhsm.fixture.js';
import { keyAdminContract } from './key-admin.contract.js';
import { keyWrapperContract } from './key-wrapper.contract.js';

const clock = systemClock;

// Both places a token call can run (docs/adr/0024).
for (const tokenCalls of ['thread-pool', 'event-loop'] as const)
  keyWrapperContract({
    name: `pkcs11 on SoftHSM2 (${tokenCalls})`,
    async setup() {
      const fx = await softHsmFixture({ label: 'contract' });
      const log = recordingLogger();
      const options = fx.options({ tokenCalls });
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

keyAdminContract({
  name: 'pkcs11 on SoftHSM2',
  async open() {
    // One fresh token for this suite; each test gets a key label of its own on it (an empty store).
    const fx = await softHsmFixture({ label: 'key-admin' });
    let n = 0;
    return {
      async fresh() {
        const options = fx.options({ keyLabel: `kek-${++n}` });
        const log = recordingLogger();
        const admin = await Pkcs11KeyAdmin.open(options, log, clock);
        // No kekMaterial: the KEK template is sensitive and not extractable, so no test can read its bytes.
        return {
          admin,
          openAdmin: () => Pkcs11KeyAdmin.open(options, log, clock),
          openWrapper: () => Pkcs11KeyWrapper.open(options, log, clock),
          teardown: () => admin.close(),
        };
      },
      close: () => fx.cleanup(),
    };
  },
});
