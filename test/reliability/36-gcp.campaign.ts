import { status } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kleidiEnv } from '../backends/gcp.harness.js';
import { type GcpKms, startGcpKms } from '../support/gcp-kms.fixture.js';
import { registerSecret, SOAK_SHARE_MS } from './support/env.js';
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
 * The gcp backend against the Cloud KMS test server (test/support/gcp-kms.fixture.ts: a real
 * gRPC server for google.cloud.kms.v1.KeyManagementService over TLS, with the real client on
 * kleidi's side), which injects the faults itself: it goes off its port and comes back with its
 * keys, answers RESOURCE_EXHAUSTED as Cloud KMS does when a quota is used up
 * (https://cloud.google.com/kms/quotas), falsifies response CRC32Cs (the integrity fields of
 * https://cloud.google.com/kms/docs/data-integrity-guidelines) and delays every call. kleidi is
 * configured through KLEIDI_GCP_* with a service-account key file the server trusts, and
 * kleidi's defaults: 1 s per attempt, 3 attempts, 2.5 s per call.
 */
describe('reliability: gcp backend (Cloud KMS test server)', () => {
  let dir: string;
  let kms: GcpKms;
  let node: KleidiNode;
  let run: BackendRun;
  let adminEnv: Record<string, string>;
  const share = SOAK_SHARE_MS;

  beforeAll(async () => {
    dir = await mkdtemp('/tmp/kleidi-rel-gcp-');
    kms = await startGcpKms();
    // The service-account private key must never reach a log: the scan looks for a line of it.
    const key = JSON.parse(readFileSync(kms.credentialsFile, 'utf8')).private_key as string;
    registerSecret('GCP service-account private key', key.split('\n')[3] ?? key);
    adminEnv = kleidiEnv(kms, dir);
    const init = await runCli(
      'gcp-admin',
      ['init', '--backend', 'gcp', '--state-dir', join(dir, 'state-admin')],
      adminEnv,
    );
    expect(init.code, init.stderr).toBe(0);
    node = new KleidiNode({
      name: 'gcp',
      socket: join(dir, 'kms.sock'),
      stateDir: join(dir, 'state'),
      backend: 'gcp',
      env: kleidiEnv(kms, dir),
    });
    await node.start();
    run = { backend: 'gcp', node, health: new HealthWatch(node.spec.socket), journals: [] };
  });

  afterAll(async () => {
    await run?.health.stop();
    await node?.stop();
    await kms?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Ends whatever fault the server injects. */
  const pass = async () => {
    for (const k of Object.keys(kms.fault)) delete kms.fault[k as keyof typeof kms.fault];
  };

  const outages = (): Fault[] => [
    sigkillFault(node),
    {
      name: 'Cloud KMS server down for 10 s, then back on its port with its keys',
      outage: true,
      holdMs: 10_000,
      allowed: ['Unavailable'],
      note:
        'connection refused: each call retries inside its 2.5 s budget, then UNAVAILABLE; the channel reconnects ' +
        'when the server is back, and the keys survive',
      inject: () => kms.kill(),
      restore: () => kms.restart(),
    },
    {
      name: 'RESOURCE_EXHAUSTED on every call for 6 s',
      outage: true,
      holdMs: 6_000,
      allowed: ['ResourceExhausted'],
      note:
        'the quota used up: retried with longer pauses inside the budget, then backend-throttled → RESOURCE_EXHAUSTED, ' +
        'and health names the throttling',
      inject: async () => {
        kms.fault.code = status.RESOURCE_EXHAUSTED;
      },
      restore: pass,
    },
    {
      name: 'every response CRC32C falsified for 6 s',
      outage: true,
      holdMs: 6_000,
      allowed: ['Unavailable'],
      note:
        'ciphertext_crc32c (Encrypt) and plaintext_crc32c (Decrypt) never match: every response is discarded and ' +
        'retried, then UNAVAILABLE naming the integrity check; never an OK with the corrupted bytes',
      inject: async () => {
        kms.fault.corrupt = 'checksum';
      },
      restore: pass,
    },
    // An operator rotates with their own credentials (here the same key file), straight to the server.
    rotationFault(run, () =>
      runCli('gcp-admin', ['rotate', '--backend', 'gcp', '--state-dir', join(dir, 'state-admin')], adminEnv),
    ),
  ];

  const degradations = (): Fault[] => [
    {
      name: 'one response in 50 with a falsified CRC32C, for 8 s',
      outage: false,
      holdMs: 8_000,
      allowed: ['Unavailable'],
      note:
        'a corrupted response is discarded and the call retried at once: absorbed inside the budget. A call fails only ' +
        'if all three of its attempts are corrupted, about 1 in 125,000 calls at this rate (at 1 in 10 it was 1 in ' +
        '1,000, and a run of ~1,250 calls saw one)',
      inject: async () => {
        kms.fault.corrupt = 'checksum';
        kms.fault.corruptEvery = 50;
      },
      restore: pass,
    },
    {
      name: 'slow Cloud KMS within the budget (300 ms per call)',
      outage: false,
      holdMs: 8_000,
      allowed: [],
      note: 'every call takes ≥ 300 ms: slower answers, no failure, health stays ok',
      inject: async () => {
        kms.fault.delayMs = 300;
      },
      restore: pass,
    },
    {
      name: 'slow Cloud KMS beyond the budget (2 s per call)',
      outage: true,
      holdMs: 4_000,
      allowed: ['Unavailable', 'DeadlineExceeded'],
      note:
        "a call takes ≥ 2 s, beyond kleidi's 1 s gRPC deadline per attempt: two attempts end DEADLINE_EXCEEDED and the " +
        "call ends at its 2.5 s budget, inside the apiserver's 3 s deadline. UNAVAILABLE when kleidi's budget runs out " +
        "first; DEADLINE_EXCEEDED only if the caller's deadline is reached first",
      inject: async () => {
        kms.fault.delayMs = 2_000;
      },
      restore: pass,
    },
  ];

  it('faults under load: SIGKILL, server down and back, RESOURCE_EXHAUSTED, corrupted CRC32Cs, kleidi rotate', async () => {
    expect(await runCampaign(run, outages, share / 2)).toEqual([]);
  });

  it('degraded Cloud KMS under load: occasional corruption and slowness absorbed, bounded beyond the budget', async () => {
    expect(await runCampaign(run, degradations, share / 2)).toEqual([]);
  });

  it('after a restart, every Encrypt that returned OK decrypts to its original', async () => {
    const { invariants, verify } = await restartAndVerify(run);
    expect(broken({ invariants }), JSON.stringify(verify)).toEqual([]);
  });
});
