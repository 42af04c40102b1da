import { DescribeKeyCommand, EnableKeyCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendMisconfiguredError, InvalidRequestError, KeyVersionUnknownError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import { openAdmin, openWrapper } from '../../support/aws-kms.harness.js';
import { type KmsProxy, kmsError, startKmsProxy } from '../../support/kms-proxy.js';
import { type LocalKms, startLocalKms, useTestCredentials } from '../../support/local-kms.fixture.js';

/** The KMS key id inside a key_id `aws:<partition>:<region>:<account>:<key id>[:<material>]`. */
const keyOf = (keyId: string) => keyId.split(':')[4] ?? '';

/** `kleidi retire` on AWS KMS beyond the lifecycle contract (real local-kms). */
describe('aws: retire disables an old key (real local-kms)', () => {
  let kms: LocalKms;
  beforeAll(async () => {
    kms = await startLocalKms();
    useTestCredentials(kms.dir);
  });
  afterAll(async () => {
    await kms?.stop();
  });

  it('disables the key, never schedules its deletion, and enable-key undoes it', async () => {
    const settings = { endpoint: kms.endpoint, key: 'alias/retire-undo' };
    const admin = await openAdmin(settings);
    const { current: v1 } = await admin.init(aSignal());
    const w = await openWrapper(settings);
    const seed = aDataKey();
    const wrapped = await w.wrap(seed, v1, aSignal());
    await admin.rotate(aSignal());

    const retired = await admin.retire(v1.version, aSignal());
    expect(retired.action).toContain(`aws kms enable-key --key-id ${keyOf(v1.keyId)}`);
    const meta = (await kms.client.send(new DescribeKeyCommand({ KeyId: keyOf(v1.keyId) }))).KeyMetadata;
    expect({ state: meta?.KeyState, deletion: meta?.DeletionDate }).toEqual({ state: 'Disabled', deletion: undefined });
    await expect(w.unwrap(wrapped, aSignal())).rejects.toThrow(/is disabled: enable it/);

    await kms.client.send(new EnableKeyCommand({ KeyId: keyOf(v1.keyId) }));
    expect(await w.unwrap(wrapped, aSignal())).toEqual(seed);
    expect((await admin.list(aSignal()))[0]?.note).toBe('decrypt-only');
    await w.close();
    await admin.close();
  });

  it('refuses an old key pending deletion, and leaves it so', async () => {
    const settings = { endpoint: kms.endpoint, key: 'alias/retire-pending' };
    const admin = await openAdmin(settings);
    const { current: v1 } = await admin.init(aSignal());
    await admin.rotate(aSignal());
    await kms.client.send(new ScheduleKeyDeletionCommand({ KeyId: keyOf(v1.keyId), PendingWindowInDays: 7 }));
    const err = await admin.retire(v1.version, aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as Error).message).toMatch(/is PendingDeletion, not enabled/);
    const meta = (await kms.client.send(new DescribeKeyCommand({ KeyId: keyOf(v1.keyId) }))).KeyMetadata;
    expect(meta?.KeyState).toBe('PendingDeletion');
    await admin.close();
  });

  it('with a key ARN configured instead of an alias, the one key is current and nothing else is known', async () => {
    const meta = await kms.createKey();
    const admin = await openAdmin({ endpoint: kms.endpoint, key: meta.Arn ?? '' });
    const { current } = await admin.init(aSignal());
    await expect(admin.retire(current.version, aSignal())).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(admin.retire(current.version - 1, aSignal())).rejects.toBeInstanceOf(KeyVersionUnknownError);
    await admin.close();
  });
});

describe('aws: retire with key materials (test double: local-kms lacks CurrentKeyMaterialId)', () => {
  let kms: LocalKms;
  let proxy: KmsProxy;
  beforeAll(async () => {
    kms = await startLocalKms();
    useTestCredentials(kms.dir);
    proxy = await startKmsProxy(kms.endpoint);
    proxy.simulateMaterials();
  });
  afterAll(async () => {
    await proxy?.stop();
    await kms?.stop();
  });

  it("refuses the current key's older material (KMS disables whole keys), and retires an old key's materials together", async () => {
    const settings = { endpoint: proxy.endpoint, key: 'alias/retire-material' };
    const admin = await openAdmin(settings);
    const { current: v1 } = await admin.init(aSignal());
    proxy.rotateMaterial(keyOf(v1.keyId)); // aws kms rotate-key-on-demand: a second material of key 1
    const listed = await admin.list(aSignal());
    expect(listed.map((k) => k.version)).toEqual([v1.version, v1.version]);
    const err = await admin.retire(v1.version, aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as Error).message).toMatch(/KMS disables whole keys, so its older key materials retire with it/);

    await admin.rotate(aSignal());
    await admin.retire(v1.version, aSignal());
    const after = await admin.list(aSignal());
    expect(after.filter((k) => k.version === v1.version).map((k) => k.note)).toEqual(['retired', 'retired']);
    await admin.close();
  });

  it('says which permission is missing when DisableKey is denied', async () => {
    const settings = { endpoint: proxy.endpoint, key: 'alias/retire-denied' };
    const admin = await openAdmin(settings);
    const { current: v1 } = await admin.init(aSignal());
    await admin.rotate(aSignal());
    proxy.fault = (op) =>
      op === 'DisableKey'
        ? kmsError('AccessDeniedException', 400, 'not authorized to perform: kms:DisableKey')
        : undefined;
    try {
      const err = await admin.retire(v1.version, aSignal()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendMisconfiguredError);
      expect((err as Error).message).toMatch(/Retiring needs kms:DisableKey on the key/);
    } finally {
      proxy.fault = undefined;
    }
    await admin.close();
  });
});
