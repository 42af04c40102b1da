import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DisableKeyCommand, EnableKeyCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsTestClient } from '../../support/grpc-client.js';
import { runKleidi, startKleidi, tempDir } from '../../support/kleidi-process.js';
import { LOCAL_KMS_REGION, type LocalKms, startLocalKms } from '../../support/local-kms.fixture.js';

/** `kleidi serve --backend aws` as a process (dist/main.js) against a real local-kms. */
describe('aws: kleidi serve against local-kms', () => {
  let kms: LocalKms;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let env: Record<string, string>;
  beforeAll(async () => {
    kms = await startLocalKms();
    tmp = await tempDir();
    await kms.createKey('alias/serve');
    await kms.createKey('alias/hmac', { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
    env = {
      AWS_ACCESS_KEY_ID: 'AKIDKLEIDITEST',
      AWS_SECRET_ACCESS_KEY: 'kleidi-test-secret',
      AWS_CONFIG_FILE: join(tmp.dir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'no-aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_REGION: '',
      AWS_DEFAULT_REGION: '',
      KLEIDI_AWS_ENDPOINT: kms.endpoint,
    };
  });
  afterAll(async () => {
    await kms?.stop();
    await tmp?.cleanup();
  });

  const refused = async (extra: Record<string, string>, region: string | null = LOCAL_KMS_REGION) => {
    const r = runKleidi(
      ['serve', '--backend', 'aws', '--socket', join(tmp.dir, 'r.sock'), '--state-dir', join(tmp.dir, 'r')],
      { ...env, ...(region ? { KLEIDI_AWS_REGION: region } : {}), ...extra },
    );
    expect(await r.exited).toBe(1);
    return r.output();
  };

  it('refuses to start without a Region, naming the settings', async () => {
    expect(await refused({}, null)).toContain('no AWS Region: set aws.region (KLEIDI_AWS_REGION)');
  });

  it('refuses to start for an unknown alias and for an HMAC key', async () => {
    expect(await refused({ KLEIDI_AWS_KEY: 'alias/nope' })).toContain('alias/nope does not exist in AWS KMS');
    expect(await refused({ KLEIDI_AWS_KEY: 'alias/hmac' })).toContain('HMAC_256 key for GENERATE_VERIFY_MAC');
  });

  it('serves Encrypt and Decrypt with an aws key_id; a disabled key stops writes with its fix', async () => {
    const k = await startKleidi(tmp.dir, ['--backend', 'aws'], {
      ...env,
      KLEIDI_AWS_REGION: LOCAL_KMS_REGION,
      KLEIDI_AWS_KEY: 'alias/serve',
    });
    const client = new KmsTestClient(k.socket);
    try {
      const status = await client.status();
      expect(status.healthz).toBe('ok');
      expect(status.keyId).toMatch(/^aws:aws:eu-west-2:111122223333:[0-9a-f-]{36}$/);
      const seed = new Uint8Array(32).fill(7);
      const enc = await client.encrypt(seed);
      expect(enc.keyId).toBe(status.keyId);
      const dec = await client.decrypt({ ciphertext: enc.ciphertext, keyId: enc.keyId, annotations: enc.annotations });
      expect(new Uint8Array(dec.plaintext)).toEqual(seed);

      const arn = `arn:aws:kms:eu-west-2:111122223333:key/${status.keyId.split(':')[4]}`;
      await kms.client.send(new DisableKeyCommand({ KeyId: arn }));
      // Writes stop (Status fails) until the key is usable again, with the reason and the fix.
      let refusal = '';
      for (let i = 0; i < 50 && !refusal; i++) {
        await new Promise((ok) => setTimeout(ok, 100));
        refusal = await client.status().then(
          () => '',
          (e: Error) => e.message,
        );
      }
      expect(refusal).toBe(
        `9 FAILED_PRECONDITION: KMS key ${arn} is disabled: enable it (aws kms enable-key) or point the alias at an enabled key`,
      );
      await kms.client.send(new EnableKeyCommand({ KeyId: arn }));
      let healthz = '';
      for (let i = 0; i < 50 && healthz !== 'ok'; i++) {
        await new Promise((ok) => setTimeout(ok, 100));
        healthz = await client.status().then(
          (s) => s.healthz,
          () => '',
        );
      }
      expect(healthz).toBe('ok');
      // Credentials never reach the logs.
      expect(k.output()).not.toContain('kleidi-test-secret');
    } finally {
      client.close();
      await k.stop();
    }
  });

  it('static credentials from the environment are used, but kept out of process.env (diagnostic reports)', async () => {
    const reports = join(tmp.dir, 'reports');
    await mkdir(reports, { mode: 0o700 });
    const secret = `kleidi-env-secret-${randomBytes(8).toString('hex')}`;
    const session = `kleidi-env-session-${randomBytes(8).toString('hex')}`;
    const k = await startKleidi(join(tmp.dir, 'env-creds'), ['--backend', 'aws'], {
      ...env,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_SESSION_TOKEN: session,
      KLEIDI_AWS_REGION: LOCAL_KMS_REGION,
      KLEIDI_AWS_KEY: 'alias/serve',
      // A diagnostic report on SIGUSR2 shows process.env as the process sees it now.
      NODE_OPTIONS: `--report-on-signal --report-directory=${reports}`,
    });
    const client = new KmsTestClient(k.socket);
    try {
      // KMS was called with them (local-kms accepts any key, so this shows they were found at all).
      expect((await client.status()).healthz).toBe('ok');
      await client.encrypt(new Uint8Array(32).fill(1));
      k.proc.kill('SIGUSR2');
      let report = '';
      for (let i = 0; i < 50 && !report; i++) {
        await new Promise((ok) => setTimeout(ok, 100));
        const f = (await readdir(reports)).find((x) => x.endsWith('.json'));
        if (f) report = await readFile(join(reports, f), 'utf8');
      }
      expect(report).toContain('"AWS_ACCESS_KEY_ID"');
      expect(report).not.toContain(secret);
      expect(report).not.toContain(session);
      expect(k.output()).not.toContain(secret);
    } finally {
      client.close();
      await k.stop();
    }
  });

  it('kleidi init, rotate and keys through the CLI', async () => {
    const cli = async (cmd: string) => {
      const r = runKleidi([cmd, '--backend', 'aws'], {
        ...env,
        KLEIDI_AWS_REGION: LOCAL_KMS_REGION,
        KLEIDI_AWS_KEY: 'alias/cli',
      });
      expect(await r.exited, r.output()).toBe(0);
      return JSON.parse(r.output()) as Record<string, unknown>;
    };
    expect(await cli('init')).toMatchObject({ backend: 'aws', created: true });
    // No wait: rotate itself creates its key in a later second than the current one.
    const rotated = (await cli('rotate')) as { current: { keyId: string } };
    const keys = (await cli('keys')) as { keys: Array<{ keyId: string; current: boolean }> };
    expect(keys.keys).toHaveLength(2);
    expect(keys.keys[1]).toMatchObject({ keyId: rotated.current.keyId, current: true });
    expect(keys.keys[0]?.current).toBe(false);
  });
});
