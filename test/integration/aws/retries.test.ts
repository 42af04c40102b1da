import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AwsKmsKeyWrapper } from '#src/adapters/outbound/aws/aws-kms.key-wrapper.js';
import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  DeadlineExceededError,
} from '#src/domain/model/errors.js';
import type { KeyVersion } from '#src/domain/model/key-version.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import { openWrapper } from '../../support/aws-kms.harness.js';
import { type Fault, kmsError, type KmsProxy, startKmsProxy } from '../../support/kms-proxy.js';
import { type LocalKms, startLocalKms, useTestCredentials } from '../../support/local-kms.fixture.js';

/** Fails the first `n` requests for `op` with `fault`, then forwards. */
function failFirst(n: number, op: string, fault: Fault): (o: string) => Fault | undefined {
  let left = n;
  return (o) => (o === op && left-- > 0 ? fault : undefined);
}

describe('aws: retries, deadlines and error mapping on the live path (local-kms behind a fault proxy)', () => {
  let kms: LocalKms;
  let proxy: KmsProxy;
  let w: AwsKmsKeyWrapper;
  let v: KeyVersion;
  beforeAll(async () => {
    kms = await startLocalKms();
    useTestCredentials(kms.dir);
    await kms.createKey('alias/retries');
    proxy = await startKmsProxy(kms.endpoint);
    w = (await openWrapper({ endpoint: proxy.endpoint, key: 'alias/retries' })) as AwsKmsKeyWrapper;
    v = await w.currentVersion(aSignal());
  });
  afterEach(() => {
    proxy.fault = undefined;
    proxy.delayMs = 0;
    proxy.checkCredentials = undefined;
  });
  afterAll(async () => {
    await w?.close();
    await proxy?.stop();
    await kms?.stop();
  });

  const roundTrip = async () => {
    const seed = aDataKey();
    expect(await w.unwrap(await w.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
  };

  it('a throttled request is retried after a pause and succeeds, and the retries are counted for /metrics', async () => {
    const before = w.backendRequestCounts();
    const sentBefore = proxy.seen.length;
    proxy.fault = failFirst(2, 'Encrypt', kmsError('ThrottlingException', 400, 'You have exceeded the rate'));
    await roundTrip();
    expect(proxy.seen.filter((o) => o === 'Encrypt').length).toBeGreaterThanOrEqual(3);
    const after = w.backendRequestCounts();
    // The call succeeded, yet the two throttled attempts and their retries are on record.
    expect(after.throttled - before.throttled).toBe(2);
    expect(after.retries - before.retries).toBe(2);
    expect(after.attempts - before.attempts).toBe(proxy.seen.length - sentBefore);
  });

  it('throttling that outlasts the attempts is BackendThrottledError (gRPC UNAVAILABLE, retryable)', async () => {
    proxy.fault = (op) => (op === 'Decrypt' ? kmsError('ThrottlingException') : undefined);
    const wrapped = await w.wrap(aDataKey(), v, aSignal());
    const err = await w.unwrap(wrapped, aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendThrottledError);
    expect((err as Error).message).toContain('AWS KMS is throttling requests (ThrottlingException)');
  });

  it('a dropped connection and a KMS 500 are retried', async () => {
    proxy.fault = failFirst(1, 'Encrypt', { kind: 'drop' });
    await roundTrip();
    proxy.fault = failFirst(1, 'Decrypt', kmsError('KMSInternalException', 500));
    await roundTrip();
  });

  it('KMS down for the whole budget is BackendUnavailableError', async () => {
    proxy.fault = (op) => (op === 'Encrypt' ? kmsError('KMSInternalException', 500) : undefined);
    await expect(w.wrap(aDataKey(), v, aSignal())).rejects.toBeInstanceOf(BackendUnavailableError);
  });

  it('a slow KMS: attempts time out at the per-attempt timeout and the call ends within its budget', async () => {
    proxy.delayMs = 1_500; // > attemptTimeoutMs (1 s)
    const started = Date.now();
    const err = await w.wrap(aDataKey(), v, aSignal()).catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toContain('did not answer in time');
    expect(took).toBeLessThan(2_500 + 300);
  });

  it("the caller's deadline wins over the budget: DeadlineExceededError at the deadline", async () => {
    proxy.delayMs = 5_000;
    const started = Date.now();
    await expect(w.wrap(aDataKey(), v, AbortSignal.timeout(300))).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(Date.now() - started).toBeLessThan(800);
  });

  it('an expired session gets one retry with fresh credentials', async () => {
    let refused = 0;
    proxy.checkCredentials = () => (refused++ === 0 ? 'expired' : 'ok');
    await roundTrip();
    expect(refused).toBeGreaterThan(1);
    expect((w.details().calls as { credentialRefreshes: number }).credentialRefreshes).toBeGreaterThan(0);
  });

  it('credentials AWS keeps refusing are a misconfiguration naming the error', async () => {
    proxy.checkCredentials = () => 'unknown';
    const err = await w.wrap(aDataKey(), v, aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendMisconfiguredError);
    expect((err as Error).message).toContain("AWS refused kleidi's credentials even after fetching new ones");
  });

  it('access denied on Encrypt names the policy (not retried)', async () => {
    proxy.fault = (op) => (op === 'Encrypt' ? kmsError('AccessDeniedException', 400, 'not authorized') : undefined);
    const before = proxy.seen.length;
    const err = await w.wrap(aDataKey(), v, aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendMisconfiguredError);
    expect((err as Error).message).toMatch(/access denied; the IAM or key policy/);
    // One Encrypt, then one DescribeKey to tell a missing or disabled key from a denial.
    expect(proxy.seen.slice(before)).toEqual(['Encrypt', 'DescribeKey']);
  });
});
