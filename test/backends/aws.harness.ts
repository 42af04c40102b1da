import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LOCAL_KMS_REGION, startLocalKms } from '../support/local-kms.fixture.js';
import { type BenchComparison, kleidiInit, REPO, run, type StartOptions, type TestServer } from './harness.js';

/** Builds local-kms from Go modules (test/local-kms pins it) unless a current build is cached. */
export async function prepare(): Promise<void> {
  await run('bash', ['scripts/setup-local-kms.sh']);
}

/** The alias kleidi is pointed at; `kleidi init` creates a key behind it, `kleidi rotate` moves it. */
const ALIAS = 'alias/kleidi';

/**
 * A fresh local-kms (github.com/nsmithuk/local-kms, a real implementation of the AWS KMS API)
 * on a free loopback port with an empty data directory, and the first key made by
 * `kleidi init` behind `alias/kleidi`. kleidi reaches it through the SDK's default credential
 * chain with static throwaway credentials from the environment (local-kms accepts any
 * signature); the shared config and credentials files point at files that do not exist and
 * instance metadata is off, so nothing of the developer's own AWS setup is read and no call
 * waits for IMDS. Never a production setup.
 */
export async function start(dir: string, opts: StartOptions = {}): Promise<TestServer> {
  const kms = await startLocalKms();
  const env = kleidiEnv(kms.endpoint, dir);
  try {
    await kleidiInit('aws', join(dir, 'init-state'), env, opts);
  } catch (err) {
    await kms.stop();
    throw err;
  }
  return { env, version: await version(), stop: () => kms.stop() };
}

/**
 * What points kleidi at a local-kms at `endpoint` (or a proxy in front of it): the `aws`
 * settings, and static test credentials for the SDK's default chain with everything else it
 * could read (shared files in `dir` that do not exist, instance metadata) turned off.
 */
export function kleidiEnv(endpoint: string, dir: string, secretAccessKey = 'kleidi-test-server-secret') {
  return {
    KLEIDI_AWS_ENDPOINT: endpoint,
    KLEIDI_AWS_REGION: LOCAL_KMS_REGION,
    KLEIDI_AWS_KEY: ALIAS,
    AWS_ACCESS_KEY_ID: 'AKIDKLEIDITESTSERVER',
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
  };
}

/** "local-kms <module version>", from the pinned go.mod (the binary reports none). */
async function version(): Promise<string> {
  const mod = await readFile(join(REPO, 'test/local-kms/go.mod'), 'utf8');
  const v = /github\.com\/nsmithuk\/local-kms (v\S+)/.exec(mod)?.[1];
  return `local-kms ${v ?? '?'}`;
}

/**
 * The same Encrypt and Decrypt requests kleidi sends (key ARN, the envelope header as
 * encryption context), made directly with @aws-sdk/client-kms against the same local-kms:
 * kleidi(aws) ÷ this is what kleidi's whole path costs on top of the SDK and the server.
 */
export const bench: BenchComparison = {
  baseline: {
    label: 'raw-aws-sdk',
    raw: 'bench/raw/aws.mjs',
    args: (env) => [
      ...['--endpoint', env.KLEIDI_AWS_ENDPOINT ?? ''],
      ...['--region', env.KLEIDI_AWS_REGION ?? LOCAL_KMS_REGION],
      ...['--key', env.KLEIDI_AWS_KEY ?? ALIAS],
    ],
  },
};
