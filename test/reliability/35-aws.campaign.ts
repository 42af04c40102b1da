import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kleidiEnv } from '../backends/aws.harness.js';
import { type KmsProxy, kmsError, startKmsProxy } from '../support/kms-proxy.js';
import { type LocalKms, startLocalKms } from '../support/local-kms.fixture.js';
import { LOGS, registerSecret, SOAK_SHARE_MS } from './support/env.js';
import {
  type BackendRun,
  broken,
  type Fault,
  restartAndVerify,
  rotationFault,
  runCampaign,
  sigkillFault,
} from './support/faults.js';
import { HealthWatch } from './support/health.js';
import { KleidiNode, runCli } from './support/kleidi.js';

/**
 * The aws backend against local-kms (github.com/nsmithuk/local-kms, a real implementation
 * of the AWS KMS API, built from Go modules by scripts/setup-local-kms.sh), reached through
 * a loopback proxy (test/support/kms-proxy.ts) that can delay every request or answer
 * ThrottlingException as KMS does when the account's request quota is used up
 * (https://docs.aws.amazon.com/kms/latest/developerguide/throttling.html). local-kms itself is
 * killed and restarted on the same port with its data kept, as a KMS endpoint that goes away
 * and comes back. kleidi is configured through KLEIDI_AWS_* and static test credentials from
 * the environment, with kleidi's defaults: 1 s per attempt, 3 attempts, 2.5 s per call.
 */
describe('reliability: aws backend (local-kms)', () => {
  let dir: string;
  let kms: LocalKms;
  let proxy: KmsProxy;
  let node: KleidiNode;
  let run: BackendRun;
  let adminEnv: Record<string, string>;
  const share = SOAK_SHARE_MS;

  beforeAll(async () => {
    dir = await mkdtemp('/tmp/kleidi-rel-aws-');
    kms = await startLocalKms();
    proxy = await startKmsProxy(kms.endpoint);
    // A distinctive secret key, so the log scan cannot miss it or hit it by accident.
    const secret = `aws-secret-${randomBytes(12).toString('hex')}`;
    registerSecret('AWS secret access key', secret);
    // The operator's kleidi init goes straight to KMS; the plugin goes through the proxy.
    adminEnv = kleidiEnv(kms.endpoint, dir, secret);
    const init = await runCli(
      'aws-admin',
      ['init', '--backend', 'aws', '--state-dir', join(dir, 'state-admin')],
      adminEnv,
    );
    expect(init.code, init.stderr).toBe(0);
    node = new KleidiNode({
      name: 'aws',
      socket: join(dir, 'kms.sock'),
      stateDir: join(dir, 'state'),
      backend: 'aws',
      env: kleidiEnv(proxy.endpoint, dir, secret),
    });
    await node.start();
    run = { backend: 'aws', node, health: new HealthWatch(node.spec.socket), journals: [] };
  });

  afterAll(async () => {
    await run?.health.stop();
    await node?.stop();
    await proxy?.stop();
    const serverLog = kms ? join(kms.dir, 'server.log') : '';
    if (serverLog && existsSync(serverLog)) copyFileSync(serverLog, join(LOGS, 'third-party-local-kms.log'));
    await kms?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** What runs inside the proxy while a fault lasts, undone by `pass()`. */
  const pass = async () => {
    proxy.delayMs = 0;
    proxy.fault = undefined;
  };

  const outages = (): Fault[] => [
    sigkillFault(node),
    {
      name: 'local-kms killed for 10 s, then restarted with its data',
      outage: true,
      holdMs: 10_000,
      allowed: ['Unavailable'],
      note:
        'connection refused behind the proxy, which drops the connection: each call retries inside its 2.5 s budget, then ' +
        "UNAVAILABLE; the keys are in local-kms's data directory and survive the restart",
      inject: () => kms.kill(),
      restore: () => kms.restart(),
    },
    {
      name: 'KMS throttling every request for 6 s',
      outage: true,
      holdMs: 6_000,
      allowed: ['ResourceExhausted'],
      note:
        'ThrottlingException on every attempt (the account quota used up): retried with longer pauses inside the budget, ' +
        'then backend-throttled → RESOURCE_EXHAUSTED, and health names the throttling',
      inject: async () => {
        proxy.fault = () => kmsError('ThrottlingException', 400, 'Rate exceeded');
      },
      restore: pass,
    },
    // An operator rotates with their own credentials, straight to KMS.
    rotationFault(run, () =>
      runCli('aws-admin', ['rotate', '--backend', 'aws', '--state-dir', join(dir, 'state-admin')], adminEnv),
    ),
  ];

  const slowness = (): Fault[] => [
    {
      name: 'slow KMS within the budget (proxy adds 300 ms)',
      outage: false,
      holdMs: 8_000,
      allowed: [],
      note: 'every KMS request takes ≥ 300 ms: slower answers, no failure, health stays ok',
      inject: async () => {
        proxy.delayMs = 300;
      },
      restore: pass,
    },
    {
      name: 'slow KMS beyond the budget (proxy adds 2 s)',
      outage: true,
      holdMs: 4_000,
      allowed: ['Unavailable', 'DeadlineExceeded'],
      note:
        "a KMS request takes ≥ 2 s, beyond kleidi's 1 s attempt timeout: two attempts time out and the call ends at its " +
        "2.5 s budget, inside the apiserver's 3 s deadline. UNAVAILABLE when kleidi's budget runs out first; " +
        "DEADLINE_EXCEEDED only if the caller's deadline is reached first",
      inject: async () => {
        proxy.delayMs = 2_000;
      },
      restore: pass,
    },
  ];

  it('faults under load: SIGKILL, local-kms killed and restarted, throttling, kleidi rotate', async () => {
    expect(await runCampaign(run, outages, share / 2)).toEqual([]);
  });

  it('slow KMS under load: absorbed within the budget, bounded beyond it', async () => {
    expect(await runCampaign(run, slowness, share / 2)).toEqual([]);
  });

  it('after a restart, every Encrypt that returned OK decrypts to its original', async () => {
    const { invariants, verify } = await restartAndVerify(run);
    expect(broken({ invariants }), JSON.stringify(verify)).toEqual([]);
  });
});
