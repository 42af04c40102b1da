import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRing } from '#src/adapters/outbound/tpm/tpm.ring-file.js';
import { aSignal } from '../support/builders.js';
import { startSwtpm } from '../support/swtpm.fixture.js';
import { openAdmin, openWrapper, tpmSettings } from '../support/tpm.harness.js';
import { keyAdminContract } from './key-admin.contract.js';
import { keyWrapperContract } from './key-wrapper.contract.js';

keyWrapperContract({
  name: 'tpm (real swtpm)',
  async setup() {
    const swtpm = await startSwtpm();
    const dir = await mkdtemp(join(tmpdir(), 'kleidi-tpm-contract-'));
    const settings = tpmSettings(swtpm, dir);
    const admin = await openAdmin(settings);
    await admin.init(aSignal());
    const wrapper = await openWrapper(settings);
    return {
      wrapper,
      rotate: async () => void (await admin.rotate(aSignal())),
      teardown: async () => {
        await wrapper.close();
        await admin.close();
        await swtpm.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
});

keyAdminContract({
  name: 'tpm (real swtpm)',
  async open() {
    const swtpm = await startSwtpm();
    const root = await mkdtemp(join(tmpdir(), 'kleidi-tpm-admin-'));
    let n = 0;
    return {
      async fresh() {
        // A node with no key file and no ring yet: an empty store.
        const settings = tpmSettings(swtpm, join(root, `store-${++n}`));
        const admin = await openAdmin(settings);
        return {
          admin,
          openAdmin: () => openAdmin(settings),
          openWrapper: () => openWrapper(settings),
          // The ring file holds the KEKs in the clear: the test scans the admin's outputs for them.
          kekMaterial: async () => (await readRing(settings.ringFile))?.versions.map((v) => v.kek) ?? [],
          teardown: () => admin.close(),
        };
      },
      close: async () => {
        await swtpm.stop();
        await rm(root, { recursive: true, force: true });
      },
    };
  },
});
