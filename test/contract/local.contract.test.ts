import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalKeyAdmin } from '../../src/adapters/outbound/local/local.key-admin.js';
import { LocalKeyWrapper } from '../../src/adapters/outbound/local/local.key-wrapper.js';
import { aSignal, recordingLogger } from '../support/builders.js';
import { keyWrapperContract } from './key-wrapper.contract.js';

keyWrapperContract({
  name: 'local keyring file',
  async setup() {
    const dir = await mkdtemp(join(tmpdir(), 'kleidi-local-'));
    const file = join(dir, 'keyring.json');
    const admin = new LocalKeyAdmin(file, recordingLogger());
    await admin.init(aSignal());
    const wrapper = await LocalKeyWrapper.open(file, recordingLogger());
    return {
      wrapper,
      rotate: async () => void (await admin.rotate(aSignal())),
      teardown: async () => {
        await wrapper.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
});
