import { describe, expect, it } from 'vitest';
import { AwsConfigSchema, awsBackend, awsSettings } from '#src/composition/backends/aws.js';
import { backendByName } from '#src/composition/backends/index.js';
import { describeObject } from '../../../../tools/describe-schema.js';
import { envToRaw, loadConfig } from '#src/composition/config/load.js';

describe('aws backend config', () => {
  it('defaults: alias/kleidi, Region and credentials from the SDK, a budget below 3 s', () => {
    const c = AwsConfigSchema.parse({});
    expect(c).toEqual({
      key: 'alias/kleidi',
      useFipsEndpoint: false,
      callTimeoutMs: 2_500,
      attemptTimeoutMs: 1_000,
      maxAttempts: 3,
    });
    expect(backendByName('aws')).toBe(awsBackend);
    expect(awsBackend).toMatchObject({ name: 'aws', section: 'aws' });
  });

  it('takes every setting from its KLEIDI_AWS_* twin', () => {
    const raw = envToRaw({
      KLEIDI_AWS_KEY: 'alias/prod',
      KLEIDI_AWS_REGION: 'eu-central-1',
      KLEIDI_AWS_ENDPOINT: 'https://vpce-0abc.kms.eu-central-1.vpce.amazonaws.com',
      KLEIDI_AWS_USE_FIPS_ENDPOINT: 'true',
      KLEIDI_AWS_PROFILE: 'kleidi',
      KLEIDI_AWS_CALL_TIMEOUT_MS: '2000',
      KLEIDI_AWS_ATTEMPT_TIMEOUT_MS: '700',
      KLEIDI_AWS_MAX_ATTEMPTS: '4',
    });
    const c = AwsConfigSchema.parse(raw.aws);
    expect(awsSettings(c)).toEqual({
      key: 'alias/prod',
      region: 'eu-central-1',
      endpoint: 'https://vpce-0abc.kms.eu-central-1.vpce.amazonaws.com',
      profile: 'kleidi',
      useFipsEndpoint: true,
      calls: { callBudgetMs: 2_000, attemptTimeoutMs: 700, maxAttempts: 4 },
    });
  });

  it('has no credential settings: the SDK default chain reads them, never kleidi config or argv', () => {
    const fields = Object.keys(AwsConfigSchema.shape).map((f) => f.toLowerCase());
    for (const f of fields) expect(f).not.toMatch(/secret|accesskey|token|password/);
  });

  it('reads static credentials from the env copy, whose secrets leave process.env at startup', () => {
    expect(awsBackend.secretEnv).toEqual(['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']);
    const env = {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_SESSION_TOKEN: 'session',
      AWS_CREDENTIAL_EXPIRATION: '2026-12-04T20:00:00Z',
    };
    expect(awsSettings(AwsConfigSchema.parse({}), env).environmentCredentials).toEqual({
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'secret',
      sessionToken: 'session',
      expiration: new Date('2026-12-04T20:00:00Z'),
    });
    // Not both parts, or a profile named (the SDK's default chain then skips the environment too).
    expect(awsSettings(AwsConfigSchema.parse({}), { AWS_ACCESS_KEY_ID: 'x' }).environmentCredentials).toBeUndefined();
    expect(awsSettings(AwsConfigSchema.parse({ profile: 'p' }), env).environmentCredentials).toBeUndefined();
    expect(awsSettings(AwsConfigSchema.parse({}), { ...env, AWS_PROFILE: 'p' }).environmentCredentials).toBeUndefined();
    // Never a setting, even when spelled like one.
    expect(envToRaw({ AWS_SECRET_ACCESS_KEY: 'secret' })).toEqual({});
  });

  it('documents every setting and rejects unknown or malformed ones', () => {
    for (const doc of describeObject(AwsConfigSchema.shape)) expect(doc.description, doc.key).not.toBe('');
    expect(AwsConfigSchema.safeParse({ secretAccessKey: 'x' }).success).toBe(false);
    expect(AwsConfigSchema.safeParse({ region: 'EU West' }).success).toBe(false);
    expect(AwsConfigSchema.safeParse({ endpoint: 'ftp://kms' }).success).toBe(false);
    expect(AwsConfigSchema.safeParse({ maxAttempts: 0 }).success).toBe(false);
  });

  it('never lets one attempt outlast the call budget', () => {
    const c = AwsConfigSchema.parse({ callTimeoutMs: 500, attemptTimeoutMs: 2_000 });
    expect(awsSettings(c).calls.attemptTimeoutMs).toBe(500);
  });

  it('is selected with --backend aws and validated with the rest of the config', () => {
    const config = loadConfig({ backend: 'aws' }, { KLEIDI_AWS_REGION: 'us-east-2' });
    expect(config.backend).toBe('aws');
    expect(config.backendConfig).toMatchObject({ key: 'alias/kleidi', region: 'us-east-2' });
    expect(() => loadConfig({ backend: 'aws' }, { KLEIDI_AWS_MAX_ATTEMPTS: 'many' })).toThrow(
      /aws\.maxAttempts \(KLEIDI_AWS_MAX_ATTEMPTS\)/,
    );
  });
});
