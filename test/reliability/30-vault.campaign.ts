import { copyFileSync, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { minimalPolicy, setUpAppRole, writePolicy } from '../support/vault-auth.fixture.js';
import { startFileVault, type FileVault } from '../support/vault-file-server.fixture.js';
import { secretFile, setUpTransit } from '../support/vault-server.fixture.js';
import { LOGS, registerSecret, rounds, SOAK_SHARE_MS, sleep } from './support/env.js';
import { FaultProxy } from './support/fault-proxy.js';
import {
  broken,
  restartAndVerify,
  rotationFault,
  runFault,
  sigkillFault,
  type BackendRun,
  type Fault,
} from './support/faults.js';
import { HealthWatch } from './support/health.js';
import { KleidiNode, runCli } from './support/kleidi.js';

/**
 * The vault backend against a real Vault server with file storage (the binary
 * scripts/setup-vault-server.sh builds; OpenBao modules are refused by the
 * module proxy here, see docs/backends/vault.md), reached through a fault
 * proxy on 127.0.0.1 that can delay or black-hole the traffic.
 *
 * Three kleidi processes, as an operator would configure them:
 * - `token`: a static token in a 0600 file (revocation needs the operator to replace the file);
 * - `approle`: AppRole with 8 s tokens (kleidi must renew or log in again by itself);
 * - `expiring`: a static token with a 15 s explicit max TTL (it expires under load).
 */
describe('reliability: vault backend (Vault, file storage)', () => {
  let dir: string;
  let vault: FileVault;
  let proxy: FaultProxy;
  let proxyAddress: string;
  const runs: BackendRun[] = [];
  const share = SOAK_SHARE_MS;

  async function newToken(opts: { ttl?: string; explicitMaxTtl?: string } = {}): Promise<string> {
    const r = await vault.api('POST', 'auth/token/create', {
      policies: ['kleidi'],
      ttl: opts.ttl ?? '1h',
      ...(opts.explicitMaxTtl ? { explicit_max_ttl: opts.explicitMaxTtl } : {}),
    });
    const token = (r.auth as { client_token: string }).client_token;
    registerSecret('Vault token', token);
    return token;
  }

  async function startNode(name: string, env: Record<string, string>): Promise<BackendRun> {
    const node = new KleidiNode({
      name,
      socket: join(dir, `${name}.sock`),
      stateDir: join(dir, `state-${name}`),
      backend: 'vault',
      env: { KLEIDI_VAULT_ADDRESS: proxyAddress, ...env },
    });
    await node.start();
    const run: BackendRun = { backend: name, node, health: new HealthWatch(node.spec.socket), journals: [] };
    runs.push(run);
    return run;
  }

  beforeAll(async () => {
    dir = await mkdtemp('/tmp/kleidi-rel-vault-');
    vault = await startFileVault();
    registerSecret('Vault root token', vault.rootToken);
    await setUpTransit(vault);
    await writePolicy(vault, 'kleidi', minimalPolicy());
    proxy = new FaultProxy(Number(new URL(vault.address).port));
    proxyAddress = await proxy.listen();
  });

  afterAll(async () => {
    for (const r of runs) {
      await r.health.stop();
      await r.node.stop();
    }
    await proxy?.close();
    const serverLog = vault ? join(vault.dir, 'server.log') : '';
    if (serverLog && existsSync(serverLog)) copyFileSync(serverLog, join(LOGS, 'third-party-vault-server.log'));
    await vault?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('static token in a file', () => {
    let run: BackendRun;
    let tokenFile: string;
    beforeAll(async () => {
      tokenFile = await secretFile(dir, 'token', await newToken());
      run = await startNode('vault-token', { KLEIDI_VAULT_TOKEN_FILE: tokenFile });
    });

    const faults = (round: number): Fault[] => [
      sigkillFault(run.node),
      // Short outages in soak rounds only: the 20 s ones below cover detection and recovery in CI.
      ...(round > 0 ? shortOutages() : []),
      {
        name: 'Vault stopped for 20 s, then restarted and unsealed',
        outage: true,
        holdMs: 20_000,
        allowed: ['Unavailable'],
        note: "a longer outage lets any retry backoff grow; kleidi must still be healthy within 5 s of Vault's return",
        inject: () => vault.kill(),
        restore: async () => {
          await vault.restart();
          await vault.unseal();
        },
      },
      {
        name: 'token revoked for 20 s; then the operator writes a new token file',
        outage: true,
        holdMs: 20_000,
        allowed: ['FailedPrecondition'],
        note: 'a longer outage lets the re-login backoff grow (1 s doubling to 60 s); the new token must still be used within 5 s',
        inject: async () => {
          await vault.api('POST', 'auth/token/revoke', { token: (await readFile(tokenFile, 'utf8')).trim() });
        },
        restore: async () => writeFile(tokenFile, await newToken(), { mode: 0o600 }),
      },
      {
        name: 'slow Vault within the budget (proxy adds 300 ms each way)',
        outage: false,
        holdMs: 8_000,
        allowed: [],
        note: 'every Vault request takes ≥ 600 ms: slower answers, no failure, health stays ok',
        inject: async () => proxy.set({ kind: 'delay', ms: 300 }),
        restore: async () => proxy.set({ kind: 'pass' }),
      },
      {
        name: 'slow Vault beyond the budget (proxy adds 2 s each way)',
        outage: true,
        holdMs: 4_000,
        allowed: ['Unavailable', 'DeadlineExceeded'],
        note: "a Vault request takes ≥ 4 s, beyond kleidi's 1 s attempt and 2.5 s call budgets: kleidi gives up inside the apiserver's 3 s deadline",
        inject: async () => proxy.set({ kind: 'delay', ms: 2_000 }),
        restore: async () => proxy.set({ kind: 'pass' }),
      },
      {
        name: 'black-holed Vault (proxy forwards nothing, closes nothing)',
        outage: true,
        holdMs: 4_000,
        allowed: ['Unavailable', 'DeadlineExceeded'],
        note:
          "no answer and no error from the network: only kleidi's own timeouts end a call. UNAVAILABLE when kleidi's attempt " +
          "budget runs out first; DEADLINE_EXCEEDED only if the caller's deadline is reached first",
        inject: async () => proxy.set({ kind: 'blackhole' }),
        restore: async () => proxy.set({ kind: 'pass' }),
      },
      // An operator's own token rotates the key (the plugin's policy cannot).
      rotationFault(run, () =>
        runCli('vault-admin', ['rotate', '--backend', 'vault', '--state-dir', join(dir, 'state-admin')], {
          KLEIDI_VAULT_ADDRESS: vault.address,
          KLEIDI_VAULT_TOKEN: vault.rootToken,
        }),
      ),
    ];

    const shortOutages = (): Fault[] => [
      {
        name: 'Vault (file storage) stopped, restarted, unsealed',
        outage: true,
        holdMs: 3_000,
        allowed: ['Unavailable'],
        note: 'connection refused, then a sealed Vault (503): backend-unavailable → UNAVAILABLE, fast; the token is stored in Vault and survives',
        inject: () => vault.kill(),
        restore: async () => {
          await vault.restart();
          await vault.unseal();
        },
      },
      {
        name: 'token revoked; the operator writes a new token file',
        outage: true,
        holdMs: 3_000,
        allowed: ['FailedPrecondition'],
        note:
          'Vault answers 403 for a revoked token and kleidi cannot get another one by itself: backend-misconfigured → ' +
          'FAILED_PRECONDITION (docs/architecture.md), and Status returns that error so the apiserver stops writing (kubernetes#138950)',
        inject: async () => {
          await vault.api('POST', 'auth/token/revoke', { token: (await readFile(tokenFile, 'utf8')).trim() });
        },
        restore: async () => writeFile(tokenFile, await newToken(), { mode: 0o600 }),
      },
    ];

    it('faults under load: SIGKILL, Vault restart, token revoked, slow and black-holed Vault', async () => {
      const r = rounds(share / 2);
      const failures: string[] = [];
      for (let round = 0; r.more(round); round++) {
        for (const f of faults(round)) {
          const res = await runFault(run, f, round);
          if (broken(res).length > 0) failures.push(`${f.name}: ${broken(res).join('; ')}`);
        }
      }
      expect(failures).toEqual([]);
    });
  });

  describe('AppRole with short-lived tokens', () => {
    let run: BackendRun;
    beforeAll(async () => {
      const role = await setUpAppRole(vault, { token_policies: ['kleidi'], token_ttl: '8s', token_max_ttl: '8s' });
      const secretId = await role.newSecretId();
      registerSecret('Vault AppRole secret_id', secretId);
      registerSecret('Vault AppRole role_id', role.roleId);
      run = await startNode('vault-approle', {
        KLEIDI_VAULT_AUTH_METHOD: 'approle',
        KLEIDI_VAULT_ROLE_ID_FILE: await secretFile(dir, 'role-id', role.roleId),
        KLEIDI_VAULT_SECRET_ID_FILE: await secretFile(dir, 'secret-id', secretId),
      });
    });

    it('token revoked and token expiring under load: kleidi logs in again by itself, no call fails', async () => {
      const r = rounds(share / 4);
      const failures: string[] = [];
      for (let round = 0; r.more(round); round++) {
        const faults: Fault[] = [
          {
            name: 'AppRole token revoked',
            outage: false,
            holdMs: 4_000,
            allowed: [],
            note: 'a 403 on a token that worked before: one new AppRole login and one retry of the call',
            inject: async () => void (await vault.api('PUT', 'sys/leases/revoke-prefix/auth/approle/login')),
            restore: async () => undefined,
          },
          {
            name: 'AppRole tokens expiring (8 s TTL, 8 s max) for 16 s',
            outage: false,
            holdMs: 16_000,
            allowed: [],
            note: 'renewal cannot pass the max TTL, so kleidi logs in again before each token expires',
            inject: async () => undefined,
            restore: async () => undefined,
          },
        ];
        for (const f of faults) {
          const res = await runFault(run, f, round);
          if (broken(res).length > 0) failures.push(`${f.name}: ${broken(res).join('; ')}`);
        }
      }
      expect(failures).toEqual([]);
    });
  });

  describe('static token that expires under load', () => {
    it('health reports the expiry within 10 s; a new token file clears it within 5 s', async () => {
      const r = rounds(share / 4);
      const failures: string[] = [];
      let run: BackendRun | undefined;
      const tokenFile = join(dir, 'expiring-token');
      for (let round = 0; r.more(round); round++) {
        const short = await newToken({ ttl: '15s', explicitMaxTtl: '15s' });
        const expiresAt = Date.now() + 15_000;
        if (!run) {
          await writeFile(tokenFile, short, { mode: 0o600 });
          run = await startNode('vault-expiring', { KLEIDI_VAULT_TOKEN_FILE: tokenFile });
        } else {
          // Later rounds: hand the running kleidi a new short token the way an operator would.
          const old = (await readFile(tokenFile, 'utf8')).trim();
          await writeFile(tokenFile, short, { mode: 0o600 });
          await vault.api('POST', 'auth/token/revoke', { token: old });
        }
        const res = await runFault(
          run,
          {
            name: 'static token reaches its max TTL; the operator writes a new token file',
            outage: true,
            holdMs: 3_000,
            allowed: ['FailedPrecondition'],
            note: 'kleidi renews the token but cannot pass its explicit max TTL; once expired, Vault answers 403 (as for a revoked token)',
            inject: () => sleep(Math.max(0, expiresAt - Date.now())),
            restore: async () => writeFile(tokenFile, await newToken(), { mode: 0o600 }),
          },
          round,
        );
        if (broken(res).length > 0) failures.push(broken(res).join('; '));
      }
      expect(failures).toEqual([]);
    });
  });

  it('after a restart, every Encrypt that returned OK decrypts to its original (each vault node)', async () => {
    const bad: string[] = [];
    for (const run of runs) {
      const { invariants, verify } = await restartAndVerify(run);
      if (broken({ invariants }).length > 0)
        bad.push(`${run.backend}: ${broken({ invariants }).join('; ')} ${JSON.stringify(verify)}`);
    }
    expect(bad).toEqual([]);
  });
});
