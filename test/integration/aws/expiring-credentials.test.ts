import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsKmsKeyWrapper } from '#src/adapters/outbound/aws/aws-kms.key-wrapper.js';
import { aDataKey, aSignal, type LogLine, recordingLogger } from '../../support/builders.js';
import { openWrapper } from '../../support/aws-kms.harness.js';
import { type KmsProxy, startKmsProxy } from '../../support/kms-proxy.js';
import { LOCAL_KMS_REGION, type LocalKms, startLocalKms } from '../../support/local-kms.fixture.js';
import { type StsStandIn, startStsStandIn } from '../../support/sts-stand-in.js';

/**
 * Web identity credentials (the IRSA mechanism: a token file and
 * AssumeRoleWithWebIdentity) that live one minute, under steady load for
 * three expiries. The SDK's default chain reads the token file and calls the
 * STS stand-in (AWS_ENDPOINT_URL_STS); the proxy refuses any request signed
 * with credentials the stand-in did not issue or that have expired, as AWS
 * does. Every call must succeed.
 */
const LIFETIME_MS = 60_000;
const RUN_MS = 3 * LIFETIME_MS + 15_000;

describe('aws: expiring web identity credentials under steady load', () => {
  let kms: LocalKms;
  let proxy: KmsProxy;
  let sts: StsStandIn;
  let tokenFile: string;
  beforeAll(async () => {
    kms = await startLocalKms();
    await kms.createKey('alias/expiring');
    tokenFile = join(kms.dir, 'web-identity-token');
    await writeFile(tokenFile, 'eyJ.projected-token-1.sig', { mode: 0o600 });
    sts = await startStsStandIn({ tokenFile, lifetimeMs: LIFETIME_MS });
    proxy = await startKmsProxy(kms.endpoint);
    for (const v of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) {
      delete process.env[v];
    }
    Object.assign(process.env, {
      AWS_CONFIG_FILE: join(kms.dir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(kms.dir, 'no-aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_REGION: LOCAL_KMS_REGION,
      AWS_ROLE_ARN: 'arn:aws:iam::111122223333:role/kleidi',
      AWS_ROLE_SESSION_NAME: 'kleidi',
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
      AWS_ENDPOINT_URL_STS: sts.endpoint,
    });
  });
  afterAll(async () => {
    await proxy?.stop();
    await sts?.stop();
    await kms?.stop();
  });

  it(
    'zero failed calls across three expiries; credentials are renewed before they expire',
    async () => {
      const verdicts = { ok: 0, expired: 0, unknown: 0 };
      const signers = new Set<string>();
      proxy.checkCredentials = (id, token) => {
        const v = sts.verdict(id, token);
        verdicts[v]++;
        signers.add(id);
        return v;
      };
      const lines: LogLine[] = [];
      const w = (await openWrapper(
        { endpoint: proxy.endpoint, key: 'alias/expiring' },
        recordingLogger(lines),
      )) as AwsKmsKeyWrapper;
      const failures: string[] = [];
      let calls = 0;
      const until = Date.now() + RUN_MS;
      let version = await w.currentVersion(aSignal());
      const worker = async () => {
        while (Date.now() < until) {
          const seed = aDataKey();
          try {
            calls += 2;
            const wrapped = await w.wrap(seed, version, AbortSignal.timeout(3_000));
            const back = await w.unwrap(wrapped, AbortSignal.timeout(3_000));
            if (Buffer.compare(back, seed) !== 0) failures.push('round trip returned other bytes');
          } catch (err) {
            failures.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
          }
          await new Promise((ok) => setTimeout(ok, 100));
        }
      };
      const refresher = async () => {
        let rotatedToken = false;
        while (Date.now() < until) {
          try {
            calls++;
            version = await w.currentVersion(AbortSignal.timeout(3_000));
          } catch (err) {
            failures.push(err instanceof Error ? `refresh ${err.name}: ${err.message}` : String(err));
          }
          if (!rotatedToken && Date.now() > until - RUN_MS / 2) {
            // The kubelet replaces projected tokens before they expire; the next login reads the new one.
            await writeFile(tokenFile, 'eyJ.projected-token-2.sig', { mode: 0o600 });
            rotatedToken = true;
          }
          await new Promise((ok) => setTimeout(ok, 1_000));
        }
      };
      await Promise.all([worker(), worker(), refresher()]);
      await w.close();

      expect(failures).toEqual([]);
      expect(calls).toBeGreaterThan(RUN_MS / 100); // steady load: ~30 calls/s on a shared 2-core machine
      expect(verdicts.expired + verdicts.unknown).toBe(0);
      // Three expiries passed while the calls went on: every credential but the last expired during the run.
      const expired = sts.issued.filter((c) => c.expiresAt < until);
      expect(expired.length).toBeGreaterThanOrEqual(3);
      expect(signers.size).toBe(sts.issued.length);
      expect(sts.refused).toBe(0);
      // Only the expiry is ever logged about credentials; never a key id, secret or token.
      const logged = JSON.stringify(lines);
      for (const c of sts.issued) expect(logged).not.toContain(c.accessKeyId);
      expect(logged).not.toContain('projected-token');
    },
    RUN_MS + 60_000,
  );
});
