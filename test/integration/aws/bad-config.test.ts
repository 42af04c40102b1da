import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendMisconfiguredError, BackendUnavailableError } from '#src/domain/model/errors.js';
import { aSignal } from '../../support/builders.js';
import { openAdmin, openWrapper } from '../../support/aws-kms.harness.js';
import { kmsError, type KmsProxy, startKmsProxy } from '../../support/kms-proxy.js';
import { type LocalKms, startLocalKms, useTestCredentials } from '../../support/local-kms.fixture.js';

/** The startup refusal `openWrapper` rejects with, for asserting on its message. */
async function refusal(p: Promise<unknown>): Promise<BackendMisconfiguredError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BackendMisconfiguredError);
  return err as BackendMisconfiguredError;
}

describe('aws: bad configuration is refused at startup, naming the problem (real local-kms)', () => {
  let kms: LocalKms;
  let proxy: KmsProxy;
  beforeAll(async () => {
    kms = await startLocalKms();
    useTestCredentials(kms.dir);
    proxy = await startKmsProxy(kms.endpoint);
    await kms.createKey('alias/good');
  });
  afterAll(async () => {
    await proxy?.stop();
    await kms?.stop();
  });

  it('no Region anywhere', async () => {
    const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
      const e = await refusal(openWrapper({ endpoint: kms.endpoint, key: 'alias/good', region: null }));
      expect(e.message).toMatch(/no AWS Region: set aws\.region \(KLEIDI_AWS_REGION\) or AWS_REGION/);
    } finally {
      Object.assign(process.env, Object.fromEntries(Object.entries(saved).filter(([, v]) => v !== undefined)));
    }
  });

  it('an alias that does not exist', async () => {
    const e = await refusal(openWrapper({ endpoint: kms.endpoint, key: 'alias/nope' }));
    expect(e.message).toBe('alias/nope does not exist in AWS KMS (eu-west-2); create it with `kleidi init`');
  });

  it('a key ARN that does not exist', async () => {
    const arn = 'arn:aws:kms:eu-west-2:111122223333:key/0b4c6f3e-0000-4000-8000-000000000000';
    const e = await refusal(openWrapper({ endpoint: kms.endpoint, key: arn }));
    expect(e.message).toContain(`${arn} does not exist in AWS KMS`);
  });

  it.each([
    ['an asymmetric RSA key', { KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' }, 'RSA_2048 key for ENCRYPT_DECRYPT'],
    ['an HMAC key', { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }, 'HMAC_256 key for GENERATE_VERIFY_MAC'],
    ['an ECC signing key', { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }, 'ECC_NIST_P256 key for SIGN_VERIFY'],
  ])('%s', async (_name, input, what) => {
    const alias = `alias/wrong-${input.KeySpec.toLowerCase().replace(/_/g, '-')}`;
    await kms.createKey(alias, input);
    const e = await refusal(openWrapper({ endpoint: kms.endpoint, key: alias }));
    expect(e.message).toContain(what);
    expect(e.message).toContain('kleidi needs a symmetric encryption key (KeySpec SYMMETRIC_DEFAULT');
    // kleidi init does not "fix" it by creating another key: it refuses the same way.
    const admin = await openAdmin({ endpoint: kms.endpoint, key: alias });
    await expect(admin.init(aSignal())).rejects.toThrow(what);
    await admin.close();
  });

  it('access denied (test double: local-kms checks no policies)', async () => {
    proxy.fault = (op) =>
      op === 'DescribeKey' ? kmsError('AccessDeniedException', 400, 'User: x is not authorized') : undefined;
    try {
      const e = await refusal(openWrapper({ endpoint: proxy.endpoint, key: 'alias/good' }));
      expect(e.message).toMatch(/^DescribeKey alias\/good: access denied; the IAM or key policy of kleidi's role/);
    } finally {
      proxy.fault = undefined;
    }
  });

  it('a key setting in none of the forms KMS accepts, and AWS managed aliases', async () => {
    for (const key of ['kleidi', 'alias/', 'alias/aws/ebs', 'arn:aws:kms:eu-west-2:1:key/x', 'alias/with space']) {
      const e = await refusal(openWrapper({ endpoint: kms.endpoint, key }));
      expect(e.message).toContain('is not an alias (alias/name), alias ARN, key ARN or key ID');
    }
  });

  it('KMS unreachable at startup is not a refusal: it serves and health reports it', async () => {
    const w = await openWrapper({ endpoint: 'http://127.0.0.1:9', key: 'alias/good', callBudgetMs: 300 });
    await expect(w.currentVersion(aSignal())).rejects.toBeInstanceOf(BackendUnavailableError);
    await w.close();
  });
});
