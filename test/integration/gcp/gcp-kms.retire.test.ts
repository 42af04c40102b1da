import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendMisconfiguredError, InvalidRequestError } from '#src/domain/model/errors.js';
import { aSignal } from '../../support/builders.js';
import { GCP_KEY_RING, type GcpKms, startGcpKms } from '../../support/gcp-kms.fixture.js';
import { openAdmin } from '../../support/gcp-kms.harness.js';

/** `kleidi retire` on Cloud KMS beyond the lifecycle contract: states it refuses, and a missing permission. */
describe('gcp adapter: retire', () => {
  let kms: GcpKms;
  let n = 0;

  beforeAll(async () => {
    kms = await startGcpKms();
  });
  afterAll(async () => {
    await kms?.stop();
  });

  /** A new key with three versions (the third primary), through kleidi init and rotate. */
  async function threeVersions() {
    const key = `${GCP_KEY_RING}/cryptoKeys/retire-${++n}`;
    const admin = await openAdmin(kms, { key });
    await admin.init(aSignal());
    await admin.rotate(aSignal());
    await admin.rotate(aSignal());
    return { key, admin };
  }

  it('refuses a version scheduled for destruction, and one newer than the primary', async () => {
    const { key, admin } = await threeVersions();
    kms.setVersionState(`${key}/cryptoKeyVersions/1`, 'DESTROY_SCHEDULED');
    await expect(admin.retire(1, aSignal())).rejects.toThrow(/DESTROY_SCHEDULED, not ENABLED/);
    // An operator made version 2 primary by hand: version 3 is newer than it.
    kms.setPrimary(key, 2);
    const err = await admin.retire(3, aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as Error).message).toMatch(/newer than the primary version 2/);
    await admin.close();
  });

  it('lists a disabled primary by its state, not as retired', async () => {
    const { key, admin } = await threeVersions();
    await admin.retire(1, aSignal());
    kms.setVersionState(`${key}/cryptoKeyVersions/3`, 'DISABLED');
    const notes = (await admin.list(aSignal())).map((k) => [k.version, k.current, k.note]);
    expect(notes).toEqual([
      [1, false, 'retired'],
      [2, false, 'decrypt-only, SOFTWARE'],
      [3, false, 'DISABLED, SOFTWARE'],
    ]);
    await admin.close();
  });

  it('names the role when UpdateCryptoKeyVersion is denied, and leaves the version enabled', async () => {
    const { admin } = await threeVersions();
    kms.denied.add('UpdateCryptoKeyVersion');
    try {
      const err = await admin.retire(1, aSignal()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendMisconfiguredError);
      expect((err as Error).message).toMatch(/kleidi retire.*roles\/cloudkms\.admin/);
    } finally {
      kms.denied.delete('UpdateCryptoKeyVersion');
    }
    expect((await admin.list(aSignal())).find((k) => k.version === 1)?.note).toBe('decrypt-only, SOFTWARE');
    await admin.close();
  });
});
