import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kleidiEnv } from '../backends/azure.harness.js';
import { type AzureStack, startAzureStack } from '../support/azure.harness.js';
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
 * The azure backend against the fake Key Vault and fake Entra ID (test/support), which run in
 * this process and take their faults directly: connection resets (the vault is down), delays,
 * 429 with Retry-After on every or some requests
 * (https://learn.microsoft.com/en-us/azure/key-vault/general/overview-throttling), and the token
 * endpoint down while kleidi's token is still valid. kleidi runs with its defaults: 1 s per
 * attempt, 3 attempts, 2.5 s per call, a client secret from a file.
 */
describe('reliability: azure backend (fake Key Vault, real SDK)', () => {
  let dir: string;
  let stack: AzureStack;
  let node: KleidiNode;
  let run: BackendRun;
  let env: Record<string, string>;
  const share = SOAK_SHARE_MS;

  beforeAll(async () => {
    dir = await mkdtemp('/tmp/kleidi-rel-azure-');
    stack = await startAzureStack();
    registerSecret('Azure client secret', readFileSync(stack.secretFile, 'utf8'));
    env = kleidiEnv(stack);
    const init = await runCli(
      'azure-admin',
      ['init', '--backend', 'azure', '--state-dir', join(dir, 'state-admin')],
      env,
    );
    expect(init.code, init.stderr).toBe(0);
    node = new KleidiNode({
      name: 'azure',
      socket: join(dir, 'kms.sock'),
      stateDir: join(dir, 'state'),
      backend: 'azure',
      env,
    });
    await node.start();
    run = { backend: 'azure', node, health: new HealthWatch(node.spec.socket), journals: [] };
  });

  afterAll(async () => {
    await run?.health.stop();
    await node?.stop();
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const pass = async () => {
    stack.vault.faults.down = false;
    stack.vault.faults.delayMs = 0;
    stack.vault.faults.throttleFraction = 0;
    stack.vault.faults.throttle.count = 0;
    stack.vault.faults.throttle.retryAfterSeconds = 1;
    stack.entra.down = false;
  };

  const outages = (): Fault[] => [
    sigkillFault(node),
    {
      name: 'Key Vault down for 10 s (connections reset)',
      outage: true,
      holdMs: 10_000,
      allowed: ['Unavailable'],
      note: 'every connection is reset: each call retries inside its 2.5 s budget, then UNAVAILABLE',
      inject: async () => {
        stack.vault.faults.down = true;
      },
      restore: pass,
    },
    {
      name: '429 storm: every request throttled with Retry-After: 1 for 6 s',
      outage: true,
      holdMs: 6_000,
      allowed: ['ResourceExhausted'],
      note:
        'each call waits out Retry-After once inside its budget, then answers RESOURCE_EXHAUSTED without waiting ' +
        'past the deadline; health names the throttling',
      inject: async () => {
        stack.vault.faults.throttleFraction = 1;
      },
      restore: pass,
    },
    {
      name: '429 burst: the next 8 requests throttled with Retry-After: 1',
      outage: false,
      holdMs: 6_000,
      allowed: [],
      note:
        'a short burst of throttling (the per-vault limit reached): each throttled call waits out ' +
        'Retry-After once, inside its budget, and succeeds; health stays ok',
      inject: async () => {
        stack.vault.faults.throttle = { count: 8, retryAfterSeconds: 1 };
      },
      restore: pass,
    },
    {
      name: 'token endpoint down for 10 s while the token is valid',
      outage: false,
      holdMs: 10_000,
      allowed: [],
      note: "kleidi's token is valid for an hour: no call needs Entra ID, none fails, health stays ok",
      inject: async () => {
        stack.entra.down = true;
      },
      restore: pass,
    },
    rotationFault(run, () =>
      runCli('azure-admin', ['rotate', '--backend', 'azure', '--state-dir', join(dir, 'state-admin')], env),
    ),
  ];

  const slowness = (): Fault[] => [
    {
      name: 'slow Key Vault within the budget (300 ms per request)',
      outage: false,
      holdMs: 8_000,
      allowed: [],
      note: 'every request takes ≥ 300 ms: slower answers, no failure, health stays ok',
      inject: async () => {
        stack.vault.faults.delayMs = 300;
      },
      restore: pass,
    },
    {
      name: 'slow Key Vault beyond the budget (2 s per request)',
      outage: true,
      holdMs: 4_000,
      allowed: ['Unavailable', 'DeadlineExceeded'],
      note:
        "a request takes ≥ 2 s, beyond kleidi's 1 s attempt timeout: the call ends at its 2.5 s budget, inside the " +
        "apiserver's 3 s deadline",
      inject: async () => {
        stack.vault.faults.delayMs = 2_000;
      },
      restore: pass,
    },
  ];

  it('faults under load: SIGKILL, Key Vault down, a 429 storm and a 429 burst, token endpoint down, kleidi rotate', async () => {
    expect(await runCampaign(run, outages, share / 2)).toEqual([]);
  });

  it('slow Key Vault under load: absorbed within the budget, bounded beyond it', async () => {
    expect(await runCampaign(run, slowness, share / 2)).toEqual([]);
  });

  it('after a restart, every Encrypt that returned OK decrypts to its original', async () => {
    const { invariants, verify } = await restartAndVerify(run);
    expect(broken({ invariants }), JSON.stringify(verify)).toEqual([]);
  });
});
