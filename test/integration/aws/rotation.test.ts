import {
  CreateAliasCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  type KeyMetadata,
  ListAliasesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  ScheduleKeyDeletionCommand,
  UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsKmsKeyWrapper } from '#src/adapters/outbound/aws/aws-kms.key-wrapper.js';
import { LOCK_WAIT_MS } from '#src/adapters/outbound/aws/aws-kms.admin-lock.js';
import { CREATED_FOR_TAG } from '#src/adapters/outbound/aws/aws-kms.key-admin.js';
import { BackendUnavailableError, KeyUnusableError, MalformedCiphertextError } from '#src/domain/model/errors.js';
import { parseKeyId } from '#src/domain/model/key-id.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import { openAdmin, openWrapper } from '../../support/aws-kms.harness.js';
import { type KmsProxy, startKmsProxy } from '../../support/kms-proxy.js';
import { type LocalKms, startLocalKms, useTestCredentials } from '../../support/local-kms.fixture.js';

/** CreationDate has whole seconds: a key made by hand in a later second is ordered after. */
const nextSecond = () => new Promise((ok) => setTimeout(ok, 1_100));

/** Every key kleidi created for `alias` (its tag), with its state. */
async function keysTaggedFor(kms: LocalKms, alias: string): Promise<KeyMetadata[]> {
  const out: KeyMetadata[] = [];
  for (const k of (await kms.client.send(new ListKeysCommand({}))).Keys ?? []) {
    const tags = (await kms.client.send(new ListResourceTagsCommand({ KeyId: k.KeyId }))).Tags ?? [];
    if (!tags.some((t) => t.TagKey === CREATED_FOR_TAG && t.TagValue === alias)) continue;
    const meta = (await kms.client.send(new DescribeKeyCommand({ KeyId: k.KeyId }))).KeyMetadata;
    if (meta) out.push(meta);
  }
  return out;
}

describe('aws: rotation by moving the alias (real local-kms)', () => {
  let kms: LocalKms;
  beforeAll(async () => {
    kms = await startLocalKms();
    useTestCredentials(kms.dir);
  });
  afterAll(async () => {
    await kms?.stop();
  });

  it('kleidi rotate: a new key behind the alias, a new key_id on every node, old data still decrypts', async () => {
    const settings = { endpoint: kms.endpoint, key: 'alias/rotate' };
    const admin = await openAdmin(settings);
    const init = await admin.init(aSignal());
    expect(init.created).toBe(true);
    expect((await admin.init(aSignal())).created).toBe(false); // idempotent
    const [nodeA, nodeB] = [await openWrapper(settings), await openWrapper(settings)];
    const v1 = await nodeA.currentVersion(aSignal());
    expect(v1.keyId).toBe(init.current.keyId);
    expect(v1.keyId).toMatch(/^aws:aws:eu-west-2:111122223333:[0-9a-f-]{36}$/);
    expect((await nodeB.currentVersion(aSignal())).keyId).toBe(v1.keyId);
    const seed = aDataKey();
    const before = await nodeA.wrap(seed, v1, aSignal());

    // No wait needed: rotate itself creates the new key in a later second than the old one.
    const rotated = await admin.rotate(aSignal());
    const v2 = await nodeB.currentVersion(aSignal());
    expect(v2.keyId).toBe(rotated.keyId);
    expect(v2.keyId).not.toBe(v1.keyId);
    expect(v2.version).toBeGreaterThan(v1.version);
    expect((await nodeA.currentVersion(aSignal())).keyId).toBe(v2.keyId);
    // Data under the old key: any node decrypts it with the key its envelope names.
    expect(await nodeB.unwrap(before, aSignal())).toEqual(seed);
    const after = await nodeA.wrap(seed, v2, aSignal());
    expect(await nodeB.unwrap(after, aSignal())).toEqual(seed);

    const keys = await admin.list(aSignal());
    expect(keys.map((k) => k.keyId)).toEqual([v1.keyId, v2.keyId]);
    expect(keys.map((k) => [k.current, k.note])).toEqual([
      [false, 'decrypt-only'],
      [true, undefined],
    ]);
    const aliases = (await kms.client.send(new ListAliasesCommand({}))).Aliases ?? [];
    expect(aliases.filter((a) => a.AliasName?.startsWith('alias/rotate/kleidi-history/'))).toHaveLength(2);
    for (const c of [nodeA, nodeB, admin]) await c.close();
  });

  it('follows an alias an operator moved by hand; kleidi init records the new key for kleidi keys', async () => {
    const settings = { endpoint: kms.endpoint, key: 'alias/manual' };
    const admin = await openAdmin(settings);
    await admin.init(aSignal());
    const w = await openWrapper(settings);
    const v1 = await w.currentVersion(aSignal());
    const seed = aDataKey();
    const before = await w.wrap(seed, v1, aSignal());
    await nextSecond();
    const other = await kms.createKey();
    await kms.client.send(new UpdateAliasCommand({ AliasName: 'alias/manual', TargetKeyId: other.KeyId }));
    const v2 = await w.currentVersion(aSignal());
    expect(v2.keyId).toContain(String(other.KeyId));
    expect(await w.unwrap(before, aSignal())).toEqual(seed);
    // Not recorded yet, but shown: it is the alias's target.
    expect((await admin.list(aSignal())).map((k) => k.keyId)).toEqual([v1.keyId, v2.keyId]);
    expect((await admin.init(aSignal())).created).toBe(false);
    const history = ((await kms.client.send(new ListAliasesCommand({}))).Aliases ?? []).filter((a) =>
      a.AliasName?.startsWith('alias/manual/kleidi-history/'),
    );
    expect(history.map((a) => a.TargetKeyId).sort()).toEqual([v1.keyId.split(':')[4], other.KeyId].sort());
    await w.close();
    await admin.close();
  });

  it('concurrent inits: one key behind the alias; the keys the losers created are scheduled for deletion', async () => {
    // Through the proxy, which applies alias changes atomically as AWS KMS does (local-kms alone
    // let two concurrent CreateAlias calls both succeed once in about six CI runs).
    const proxy = await startKmsProxy(kms.endpoint);
    const settings = { endpoint: proxy.endpoint, key: 'alias/init-race' };
    const admins = await Promise.all([openAdmin(settings), openAdmin(settings), openAdmin(settings)]);
    const results = await Promise.all(admins.map((a) => a.init(aSignal())));
    expect(new Set(results.map((r) => r.current.keyId)).size).toBe(1);
    const tagged = await keysTaggedFor(kms, 'alias/init-race');
    const winner = results[0]?.current.keyId.split(':')[4];
    const losers = tagged.filter((k) => k.KeyId !== winner);
    expect(losers).toHaveLength(results.filter((r) => !r.created).length);
    for (const k of losers) expect(k.KeyState).toBe('PendingDeletion');
    expect(tagged.find((k) => k.KeyId === winner)?.KeyState).toBe('Enabled');
    for (const a of admins) await a.close();
    await proxy.stop();
  });

  it('a rotation lock left by an interrupted rotate: the next rotate waits, then fails naming it; once deleted, rotate works', {
    timeout: 60_000,
  }, async () => {
    const settings = { endpoint: kms.endpoint, key: 'alias/locked' };
    const admin = await openAdmin(settings);
    const { current } = await admin.init(aSignal());
    const lock = 'alias/locked/kleidi-rotate-lock';
    await kms.client.send(new CreateAliasCommand({ AliasName: lock, TargetKeyId: current.keyId.split(':')[4] }));
    const t0 = performance.now();
    const err = await admin.rotate(aSignal(60_000)).catch((e: unknown) => e);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(LOCK_WAIT_MS);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toContain(`another kleidi rotate holds ${lock}`);
    expect((err as Error).message).toContain(`aws kms delete-alias --alias-name ${lock}`);
    expect((await admin.list(aSignal())).map((k) => k.keyId)).toEqual([current.keyId]);

    await kms.client.send(new DeleteAliasCommand({ AliasName: lock }));
    const rotated = await admin.rotate(aSignal());
    expect(rotated.keyId).not.toBe(current.keyId);
    // The lock is released after a rotate.
    const aliases = (await kms.client.send(new ListAliasesCommand({}))).Aliases ?? [];
    expect(aliases.map((a) => a.AliasName)).not.toContain(lock);
    await admin.close();
  });

  it('a ciphertext moved to another key_id does not decrypt', async () => {
    const settings = { endpoint: kms.endpoint, key: 'alias/moved' };
    const admin = await openAdmin(settings);
    await admin.init(aSignal());
    const w = await openWrapper(settings);
    const v1 = await w.currentVersion(aSignal());
    const wrapped = await w.wrap(aDataKey(), v1, aSignal());
    const v2 = await admin.rotate(aSignal());
    // Under the other key's key_id: KMS is asked with the other key (and other context).
    await expect(w.unwrap({ ...wrapped, keyId: v2.keyId }, aSignal())).rejects.toBeInstanceOf(MalformedCiphertextError);
    await w.close();
    await admin.close();
  });

  it('a disabled or deletion-scheduled key stops writes with a reason that names the key and the fix', async () => {
    const settings = { endpoint: kms.endpoint, key: 'alias/states' };
    const admin = await openAdmin(settings);
    const { current } = await admin.init(aSignal());
    const w = await openWrapper(settings);
    const seed = aDataKey();
    const wrapped = await w.wrap(seed, current, aSignal());
    const arn = `arn:aws:kms:eu-west-2:111122223333:key/${current.keyId.split(':')[4]}`;

    await kms.client.send(new DisableKeyCommand({ KeyId: arn }));
    const disabled = await w.currentVersion(aSignal()).catch((e: unknown) => e);
    expect(disabled).toBeInstanceOf(KeyUnusableError);
    expect((disabled as Error).message).toMatch(new RegExp(`${arn} is disabled: enable it`));
    const unwrapDisabled = await w.unwrap(wrapped, aSignal()).catch((e: unknown) => e);
    expect(unwrapDisabled).toBeInstanceOf(KeyUnusableError);
    expect((unwrapDisabled as Error).message).toContain('is disabled');
    expect((await admin.list(aSignal()))[0]?.note).toMatch(/^disabled/);

    await kms.client.send(new EnableKeyCommand({ KeyId: arn }));
    expect(await w.unwrap(wrapped, aSignal())).toEqual(seed);
    await kms.client.send(new ScheduleKeyDeletionCommand({ KeyId: arn, PendingWindowInDays: 7 }));
    const pending = await w.currentVersion(aSignal()).catch((e: unknown) => e);
    expect(pending).toBeInstanceOf(KeyUnusableError);
    expect((pending as Error).message).toMatch(/is scheduled for deletion on \d{4}-.*: cancel it/);
    await expect(w.wrap(aDataKey(), current, aSignal())).rejects.toBeInstanceOf(KeyUnusableError);
    await w.close();
    await admin.close();
  });
});

describe('aws: rotation of key material (test double: local-kms lacks CurrentKeyMaterialId and rotations)', () => {
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

  it('key_id follows CurrentKeyMaterialId on every node, never flaps back, and old data decrypts', async () => {
    const settings = { endpoint: proxy.endpoint, key: 'alias/material' };
    const admin = await openAdmin(settings);
    await admin.init(aSignal());
    const [a, b] = [await openWrapper(settings), await openWrapper(settings)];
    const v1 = await a.currentVersion(aSignal());
    const key = v1.keyId.split(':')[4] ?? '';
    const [m1] = proxy.materialsOf(key);
    expect(v1.keyId).toBe(`aws:aws:eu-west-2:111122223333:${key}:${m1}`);
    const seed = aDataKey();
    const before = await a.wrap(seed, v1, aSignal());

    const m2 = proxy.rotateMaterial(key); // aws kms rotate-key-on-demand
    const v2 = await b.currentVersion(aSignal());
    expect(v2.keyId).toBe(`aws:aws:eu-west-2:111122223333:${key}:${m2}`);
    expect((await a.currentVersion(aSignal())).keyId).toBe(v2.keyId);
    // A lagging answer naming the previous material does not move key_id back.
    proxy.reportStaleOnce(key, m1 ?? '');
    expect((await a.currentVersion(aSignal())).keyId).toBe(v2.keyId);
    expect(await b.unwrap(before, aSignal())).toEqual(seed);
    const after = await a.wrap(seed, v2, aSignal());
    expect(await b.unwrap(after, aSignal())).toEqual(seed);
    // The envelope's key_id is bound: the same blob under the other material's key_id fails.
    await expect(a.unwrap({ ...after, keyId: v1.keyId }, aSignal())).rejects.toBeInstanceOf(MalformedCiphertextError);

    const keys = await admin.list(aSignal());
    expect(keys.map((k) => [k.keyId, k.current])).toEqual([
      [v1.keyId, false],
      [v2.keyId, true],
    ]);
    for (const c of [a, b, admin]) await c.close();
  });

  it('reports the credential expiry it holds (none for static credentials)', async () => {
    const w = (await openWrapper({ endpoint: proxy.endpoint, key: 'alias/material' })) as AwsKmsKeyWrapper;
    await w.currentVersion(aSignal());
    expect(w.credentialExpiresAt()).toBeUndefined();
    expect(parseKeyId((await w.currentVersion(aSignal())).keyId).length).toBeLessThan(200);
    await w.close();
  });
});
