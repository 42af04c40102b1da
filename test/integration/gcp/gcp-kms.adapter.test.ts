import { status } from '@grpc/grpc-js';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GcpKmsKeyAdmin } from '#src/adapters/outbound/gcp/gcp-kms.key-admin.js';
import type { GcpKmsKeyWrapper } from '#src/adapters/outbound/gcp/gcp-kms.key-wrapper.js';
import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  KeyUnusableError,
  KeyVersionUnknownError,
  MalformedCiphertextError,
} from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import { GCP_KEY_RING, type GcpKms, startGcpKms } from '../../support/gcp-kms.fixture.js';
import { openAdmin, openWrapper } from '../../support/gcp-kms.harness.js';

/**
 * The gcp adapter against the Cloud KMS test server's faults: integrity checks on every response,
 * Cloud KMS refusing a request checksum, version states, authentication and permission errors,
 * deadlines. Each test that injects a fault removes it.
 */
describe('gcp adapter: integrity, key states, errors', () => {
  let kms: GcpKms;
  let admin: GcpKmsKeyAdmin;
  let wrapper: GcpKmsKeyWrapper;
  const key = `${GCP_KEY_RING}/cryptoKeys/adapter`;

  beforeAll(async () => {
    kms = await startGcpKms();
    admin = await openAdmin(kms, { key });
    await admin.init(aSignal());
    wrapper = await openWrapper(kms, { key });
  });

  afterEach(() => {
    for (const k of Object.keys(kms.fault)) delete kms.fault[k as keyof typeof kms.fault];
  });

  afterAll(async () => {
    await wrapper?.close();
    await admin?.close();
    await kms?.stop();
  });

  it('discards a response with a falsified integrity field and retries: one bad answer costs one retry', async () => {
    const v = await wrapper.currentVersion(aSignal());
    const seed = aDataKey();
    for (const corrupt of [
      'ciphertextCrc32c',
      'verifiedPlaintextCrc32c',
      'verifiedAdditionalAuthenticatedDataCrc32c',
      'ciphertext',
    ] as const) {
      const before = wrapper.details().calls as { integrityFailures: number; retries: number };
      const { integrityFailures, retries } = { ...before };
      kms.fault.corrupt = corrupt;
      kms.fault.corruptCount = 1;
      const wrapped = await wrapper.wrap(seed, v, aSignal());
      expect(await wrapper.unwrap(wrapped, aSignal())).toEqual(seed);
      const after = wrapper.details().calls as { integrityFailures: number; retries: number };
      expect(after.integrityFailures, corrupt).toBe(integrityFailures + 1);
      expect(after.retries, corrupt).toBe(retries + 1);
    }
    const wrapped = await wrapper.wrap(seed, v, aSignal());
    for (const corrupt of ['plaintextCrc32c', 'plaintext'] as const) {
      kms.fault.corrupt = corrupt;
      kms.fault.corruptCount = 1;
      expect(await wrapper.unwrap(wrapped, aSignal()), corrupt).toEqual(seed);
    }
  });

  it('never succeeds with a response that keeps failing its integrity check', async () => {
    const v = await wrapper.currentVersion(aSignal());
    const wrapped = await wrapper.wrap(aDataKey(), v, aSignal());
    kms.fault.corrupt = 'checksum';
    await expect(wrapper.wrap(aDataKey(), v, aSignal())).rejects.toThrow(BackendUnavailableError);
    await expect(wrapper.wrap(aDataKey(), v, aSignal())).rejects.toThrow(/integrity check.*ciphertext/);
    await expect(wrapper.unwrap(wrapped, aSignal())).rejects.toThrow(/integrity check.*plaintext/);
  });

  it('retries when Cloud KMS refuses the request CRC32C, and names it when it persists', async () => {
    const v = await wrapper.currentVersion(aSignal());
    const seed = aDataKey();
    kms.fault.corruptRequests = 1;
    const wrapped = await wrapper.wrap(seed, v, aSignal());
    expect(kms.requestChecksumErrors).toBe(1);
    kms.fault.corruptRequests = 1;
    expect(await wrapper.unwrap(wrapped, aSignal())).toEqual(seed);
    kms.fault.corruptRequests = 100;
    const err = await wrapper.wrap(seed, v, aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect(String(err)).toMatch(/refused the request's CRC32C \(plaintext_crc32c\)/);
  });

  it('refuses a ciphertext under another key_id or version as malformed, not as an outage', async () => {
    const v1 = await wrapper.currentVersion(aSignal());
    const wrapped = await wrapper.wrap(aDataKey(), v1, aSignal());
    const v2 = await admin.rotate(aSignal());
    await expect(wrapper.unwrap({ ...wrapped, keyId: v2.keyId }, aSignal())).rejects.toThrow(MalformedCiphertextError);
    await expect(
      wrapper.unwrap({ keyId: 'aws:aws:eu-west-1:1:x' as typeof v1.keyId, payload: wrapped.payload }, aSignal()),
    ).rejects.toThrow(KeyVersionUnknownError);
  });

  it('reports a disabled or destroyed version precisely, and a disabled primary in currentVersion', async () => {
    const v = await wrapper.currentVersion(aSignal());
    const wrapped = await wrapper.wrap(aDataKey(), v, aSignal());
    const name = `${key}/cryptoKeyVersions/${v.version}`;
    kms.setVersionState(name, 'DISABLED');
    try {
      await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(KeyUnusableError);
      await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(/is disabled: enable it/);
      await expect(wrapper.wrap(aDataKey(), v, aSignal())).rejects.toThrow(KeyUnusableError);
      await expect(wrapper.unwrap(wrapped, aSignal())).rejects.toThrow(/is disabled/);
      kms.setVersionState(name, 'DESTROY_SCHEDULED');
      await expect(wrapper.unwrap(wrapped, aSignal())).rejects.toThrow(/scheduled for destruction/);
      kms.setVersionState(name, 'DESTROYED');
      await expect(wrapper.unwrap(wrapped, aSignal())).rejects.toThrow(KeyVersionUnknownError);
      const listed = await admin.list(aSignal());
      expect(listed.find((k) => k.version === v.version)?.note).toMatch(/^DESTROYED, SOFTWARE$/);
      expect(listed.filter((k) => k.current)).toEqual([]);
    } finally {
      kms.setVersionState(name, 'ENABLED');
    }
  });

  it('maps RESOURCE_EXHAUSTED to throttling and a slow server to UNAVAILABLE within the budget', async () => {
    const v = await wrapper.currentVersion(aSignal());
    kms.fault.code = status.RESOURCE_EXHAUSTED;
    await expect(wrapper.wrap(aDataKey(), v, aSignal())).rejects.toThrow(BackendThrottledError);
    delete kms.fault.code;
    kms.fault.delayMs = 3_000;
    const t0 = performance.now();
    await expect(wrapper.wrap(aDataKey(), v, aSignal())).rejects.toThrow(BackendUnavailableError);
    expect(performance.now() - t0).toBeLessThan(2_900);
  });

  it('aborts at once when the caller gives up', async () => {
    const v = await wrapper.currentVersion(aSignal());
    kms.fault.delayMs = 2_000;
    const t0 = performance.now();
    await expect(wrapper.wrap(aDataKey(), v, AbortSignal.timeout(200))).rejects.toBeDefined();
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it('refuses to start on permission denied, unknown credentials, a missing key, an open credentials file', async () => {
    kms.denied.add('GetCryptoKey');
    try {
      await expect(openWrapper(kms, { key })).rejects.toThrow(/roles\/cloudkms/);
    } finally {
      kms.denied.delete('GetCryptoKey');
    }
    await expect(openWrapper(kms, { key: `${GCP_KEY_RING}/cryptoKeys/missing` })).rejects.toThrow(
      BackendMisconfiguredError,
    );
    const sa = JSON.parse(await readFile(kms.credentialsFile, 'utf8'));
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const impostor = join(kms.dir, 'impostor.json');
    await writeFile(
      impostor,
      JSON.stringify({ ...sa, private_key: other.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }),
      { mode: 0o600 },
    );
    await expect(openWrapper(kms, { key, credentialsFile: impostor })).rejects.toThrow(/UNAUTHENTICATED/);
    await chmod(impostor, 0o644);
    await expect(openWrapper(kms, { key, credentialsFile: impostor })).rejects.toThrow(/chmod 600/);
  });

  it('starts while Cloud KMS is down and serves once it is back', async () => {
    await kms.kill();
    let w: GcpKmsKeyWrapper | undefined;
    try {
      w = await openWrapper(kms, { key, callBudgetMs: 500, attemptTimeoutMs: 200 });
      await expect(w.currentVersion(aSignal())).rejects.toThrow(BackendUnavailableError);
    } finally {
      await kms.restart();
    }
    // As the background refresh does: retry until the channel has reconnected (backoff capped at 2 s).
    const t0 = performance.now();
    let v: Awaited<ReturnType<GcpKmsKeyWrapper['currentVersion']>> | undefined;
    while (!v && performance.now() - t0 < 5_000) {
      v = await w.currentVersion(aSignal()).catch(() => undefined);
      if (!v) await new Promise((r) => setTimeout(r, 100));
    }
    expect(v).toBeDefined();
    if (!v) return;
    const seed = aDataKey();
    expect(await w.unwrap(await w.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
    await w.close();
  });
});
