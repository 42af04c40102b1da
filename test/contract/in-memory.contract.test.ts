import { describe, expect, it } from 'vitest';
import { InMemoryKeyWrapper } from '#src/adapters/outbound/in-memory/in-memory.key-wrapper.js';
import { buildContainer } from '#src/composition/container.js';
import { loadConfig } from '#src/composition/config/load.js';
import { TOKENS } from '#src/composition/tokens.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';
import { aSignal, recordingLogger } from '../support/builders.js';
import { keyAdminContract } from './key-admin.contract.js';
import { keyWrapperContract } from './key-wrapper.contract.js';

keyWrapperContract({
  name: 'in-memory fake',
  async setup() {
    const wrapper = new InMemoryKeyWrapper();
    return {
      wrapper,
      rotate: async () => void (await wrapper.rotate(aSignal())),
      teardown: () => wrapper.close(),
    };
  },
});

/**
 * The in-memory class is the reference the KeyAdmin contract is checked
 * against in unit time: one object is the store, its admin and its wrapper.
 * The commands cannot administer it, though: its keys exist only inside the
 * serving process, so `kleidi init | rotate | keys` (a process of their own)
 * would administer a throwaway keyring; the backend refuses instead, by design.
 */
keyAdminContract({
  name: 'in-memory reference',
  async open() {
    return {
      async fresh() {
        const store = new InMemoryKeyWrapper();
        return {
          admin: store,
          openAdmin: async () => store,
          openWrapper: async () => store,
          teardown: () => store.close(),
        };
      },
      close: async () => undefined,
    };
  },
});

describe('KeyAdmin: the in-memory backend refuses to be administered', () => {
  it('the composition root rejects the KeyAdmin with BackendMisconfiguredError, as `kleidi init` resolves it', async () => {
    const config = loadConfig({ backend: 'in-memory' }, { KLEIDI_IN_MEMORY_ACKNOWLEDGE_DATA_LOSS: 'true' });
    const container = buildContainer({ config, logger: recordingLogger(), env: {} });
    const admin = container.getAsync(TOKENS.KeyAdmin);
    await expect(admin).rejects.toBeInstanceOf(BackendMisconfiguredError);
    await expect(admin).rejects.toThrow(/nothing to administer/);
  });
});
