import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  KeyUnusableError,
  MalformedCiphertextError,
} from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../../../support/builders.js';
import {
  credentialFile,
  type KekSourceTestSettings,
  openKekSourceAdmin,
  openKekSourceWrapper,
  openRemoteAdmin,
  openRemoteWrapper,
} from '../../../../support/delinea.harness-support.js';
import { type FakeDsv, startFakeDsv } from '../../../../support/fake-delinea-dsv.js';
import { type FakeSecretServer, startFakeSecretServer } from '../../../../support/fake-delinea.js';

/** Failure handling of the delinea adapter against the HTTPS fakes: one status or fault at a time. */
describe('delinea kek-source: failures become precise KmsErrors', () => {
  let dir: string;
  let server: FakeSecretServer;
  let cred: string;
  const settings = (secretId: number, extra: Partial<KekSourceTestSettings> = {}): KekSourceTestSettings => ({
    server,
    credentialFile: cred,
    secretId,
    ...extra,
  });
  /** A secret with a ring of `n` versions, and a wrapper on it. */
  async function ring(n: number) {
    const id = server.createSecret();
    const admin = await openKekSourceAdmin(settings(id));
    await admin.init(aSignal());
    for (let i = 1; i < n; i++) await admin.rotate(aSignal());
    await admin.close();
    return { id, wrapper: await openKekSourceWrapper(settings(id)) };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-delinea-unit-'));
    server = await startFakeSecretServer({ dir, tokenTtlS: 1 });
    cred = credentialFile(dir, server.password);
  });
  afterAll(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a token refused early (401) is replaced once and the call succeeds', async () => {
    const { wrapper } = await ring(1);
    const before = server.tokenRequests();
    server.expireTokens();
    await expect(wrapper.currentVersion(aSignal())).resolves.toBeDefined();
    expect(server.tokenRequests()).toBe(before + 1);
    await wrapper.close();
  });

  it('refreshes a token before it expires, and not on every call', async () => {
    const { wrapper } = await ring(1);
    const before = server.tokenRequests();
    const refused = server.log.filter((r) => r.status === 401).length;
    await wrapper.currentVersion(aSignal());
    await wrapper.currentVersion(aSignal());
    expect(server.tokenRequests()).toBe(before);
    // A 1 s token is refreshed at 0.8 s, before the server would refuse it.
    await new Promise((r) => setTimeout(r, 850));
    await wrapper.currentVersion(aSignal());
    expect(server.tokenRequests()).toBe(before + 1);
    expect(server.log.filter((r) => r.status === 401)).toHaveLength(refused);
    await wrapper.close();
  });

  it('refused credentials are misconfiguration and are not sent again until the file changes', async () => {
    const id = server.createSecret();
    const wrong = join(dir, 'wrong-credential');
    writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 });
    const admin = await openKekSourceAdmin(settings(id, { credentialFile: wrong }));
    const before = server.tokenRequests();
    await expect(admin.init(aSignal())).rejects.toThrow(BackendMisconfiguredError);
    await expect(admin.init(aSignal())).rejects.toThrow(/refused kleidi's credentials/);
    expect(server.tokenRequests()).toBe(before + 1);
    writeFileSync(wrong, `${server.password}\n`, { mode: 0o600 });
    await expect(admin.init(aSignal())).resolves.toMatchObject({ created: true });
    await admin.close();
  });

  it('5xx and 429 are retried within the budget; when they persist: unavailable, throttled', async () => {
    const { wrapper } = await ring(1);
    server.failNext(2, 503);
    await expect(wrapper.currentVersion(aSignal())).resolves.toBeDefined();
    server.failNext(50, 500);
    const t0 = Date.now();
    await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(BackendUnavailableError);
    expect(Date.now() - t0).toBeLessThan(2_600);
    server.failNext(50, 429, { retryAfterS: 0 });
    await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(BackendThrottledError);
    server.failNext(0, 200);
    await wrapper.close();
  });

  it('403 is a permission error naming the secret; a deleted secret is misconfiguration, and loaded keys keep serving', async () => {
    const { id, wrapper } = await ring(1);
    const v = await wrapper.currentVersion(aSignal());
    server.deny(id, true);
    await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(/permission denied \(403/);
    server.deny(id, false);
    server.deleteSecret(id);
    await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(/does not exist/);
    const seed = aDataKey();
    expect(await wrapper.unwrap(await wrapper.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
    server.restoreSecret(id);
    await wrapper.close();
  });

  it('server down: unavailable, and the keys in memory keep wrapping and unwrapping', async () => {
    const { wrapper } = await ring(1);
    const v = await wrapper.currentVersion(aSignal());
    await server.down();
    try {
      await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(BackendUnavailableError);
      const seed = aDataKey();
      expect(await wrapper.unwrap(await wrapper.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
    } finally {
      await server.up();
    }
    await wrapper.close();
  });

  it('a malformed ring entry fails only its own version', async () => {
    const { id, wrapper } = await ring(3);
    const admin = await openKekSourceAdmin(settings(id));
    const [v1, v2, v3] = await admin.list(aSignal());
    const seed = aDataKey();
    const w1 = await wrapper.wrap(seed, v1!, aSignal());
    const w2 = await wrapper.wrap(seed, v2!, aSignal());
    const doc = JSON.parse(server.field(id) ?? '') as { keys: { material: string }[] };
    doc.keys[1]!.material = 'AAAA';
    server.setField(id, JSON.stringify(doc));
    expect((await wrapper.currentVersion(aSignal())).keyId).toBe(v3!.keyId);
    expect(await wrapper.unwrap(w1, aSignal())).toEqual(seed);
    await expect(wrapper.unwrap(w2, aSignal())).rejects.toThrow(KeyUnusableError);
    await expect(wrapper.unwrap(w2, aSignal())).rejects.toThrow(/version 2 .* malformed/);
    const listed = await admin.list(aSignal());
    expect(listed.map((k) => [k.version, k.note ?? ''])).toEqual([
      [1, ''],
      [2, 'malformed: material is not a base64 256-bit key'],
      [3, ''],
    ]);
    // The newest entry malformed: Encrypt must stop rather than fall back to an older version.
    doc.keys[2]!.material = 'AAAA';
    server.setField(id, JSON.stringify(doc));
    await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(KeyUnusableError);
    // A rotate keeps the broken entries as they are and adds a good current version.
    const v4 = await admin.rotate(aSignal());
    expect((await wrapper.currentVersion(aSignal())).keyId).toBe(v4.keyId);
    expect(JSON.parse(server.field(id) ?? '').keys[1].material).toBe('AAAA');
    await admin.close();
    await wrapper.close();
  });
});

describe('delinea remote: DSV failures become precise KmsErrors', () => {
  let dir: string;
  let dsv: FakeDsv;
  let cred: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-delinea-dsv-unit-'));
    dsv = await startFakeDsv({ dir });
    cred = credentialFile(dir, dsv.clientSecret);
  });
  afterAll(async () => {
    await dsv.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a deleted key is misconfiguration; an expired token is replaced; a bad ciphertext is malformed', async () => {
    const s = { server: dsv, credentialFile: cred, keyPath: 'kleidi/failures' };
    const admin = await openRemoteAdmin(s);
    await admin.init(aSignal());
    const w = await openRemoteWrapper(s);
    const v = await w.currentVersion(aSignal());
    const wrapped = await w.wrap(aDataKey(), v, aSignal());
    dsv.expireTokens();
    await expect(w.unwrap(wrapped, aSignal())).resolves.toHaveLength(32);
    const blob = wrapped.payload.scheme === 'opaque' ? wrapped.payload.blob : new Uint8Array();
    const bad = { ...wrapped, payload: { scheme: 'opaque' as const, blob: blob.subarray(0, blob.length - 4) } };
    await expect(w.unwrap(bad, aSignal())).rejects.toThrow(MalformedCiphertextError);
    dsv.deleteKey('kleidi/failures');
    await expect(w.currentVersion(aSignal())).rejects.toThrow(/does not exist/);
    await expect(admin.rotate(aSignal())).rejects.toThrow(/kleidi init/);
    dsv.restoreKey('kleidi/failures');
    await expect(admin.rotate(aSignal())).resolves.toMatchObject({ version: 2 });
    await w.close();
    await admin.close();
  });
});
