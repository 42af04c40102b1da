import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readKeyring } from '#src/adapters/outbound/local/keyring-file.js';
import { LocalKeyAdmin } from '#src/adapters/outbound/local/local.key-admin.js';
import { LocalKeyWrapper } from '#src/adapters/outbound/local/local.key-wrapper.js';
import { aSignal, recordingLogger } from '../support/builders.js';
import { keyAdminContract } from './key-admin.contract.js';
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

keyAdminContract({
  name: 'local keyring file',
  open: async () => {
    const root = await mkdtemp(join(tmpdir(), 'kleidi-local-admin-'));
    let n = 0;
    return {
      async fresh() {
        const file = join(root, `store-${++n}`, 'keyring.json');
        await mkdir(dirname(file), { mode: 0o700 });
        return {
          admin: new LocalKeyAdmin(file, recordingLogger()),
          openAdmin: async () => new LocalKeyAdmin(file, recordingLogger()),
          openWrapper: () => LocalKeyWrapper.open(file, recordingLogger()),
          // The keyring file is the one backend store whose KEK bytes a test can read directly.
          kekMaterial: async () => (await readKeyring(file))?.keyring.entries.map((e) => e.material) ?? [],
          teardown: async () => undefined,
        };
      },
      close: () => rm(root, { recursive: true, force: true }),
    };
  },
});
