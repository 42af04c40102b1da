import { InMemoryKeyWrapper } from '../../src/adapters/outbound/in-memory/in-memory.key-wrapper.js';
import { aSignal } from '../support/builders.js';
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
