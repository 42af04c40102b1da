import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kleidiEnv, remoteEnv } from '../backends/delinea.harness.js';
import { credentialFile } from '../support/delinea.harness-support.js';
import { type FakeDsv, startFakeDsv } from '../support/fake-delinea-dsv.js';
import { type FakeSecretServer, startFakeSecretServer } from '../support/fake-delinea.js';
import { registerSecret, rounds, SOAK_SHARE_MS } from './support/env.js';
import {
  type BackendRun,
  broken,
  type Fault,
  restartAndVerify,
  rotationFault,
  runCampaign,
  runFault,
  sigkillFault,
} from './support/faults.js';
import { HealthWatch } from './support/health.js';
import { KleidiNode, runCli } from './support/kleidi.js';

/**
 * The delinea backend (kek-source mode) against the in-process fake Secret Server
 * (test/support/fake-delinea.ts, HTTPS on loopback with a CA made at test time). In this mode
 * the KEKs are in kleidi's memory, so Encrypt and Decrypt keep working while Secret Server is
 * away: an outage shows in health (the refresh cannot read the ring), not in failed calls. The
 * faults: the server down and back on the same port; every token expired at once (kleidi gets a
 * 401, fetches one new token and goes on); the secret deleted and restored (an operator-fixable
 * error: writes stop until it is back, kubernetes#138950); an older ring entry made malformed
 * (only data under that version would fail; the loadgen uses the current one, so nothing may
 * fail); and `kleidi rotate` while serving.
 */
describe('reliability: delinea backend (fake Secret Server, kek-source)', () => {
  let dir: string;
  let server: FakeSecretServer;
  let node: KleidiNode;
  let run: BackendRun;
  let env: Record<string, string>;
  let secretId: number;
  const share = SOAK_SHARE_MS;

  beforeAll(async () => {
    dir = await mkdtemp('/tmp/kleidi-rel-delinea-');
    server = await startFakeSecretServer({ dir });
    // The password is distinctive, so the log scan cannot miss it or hit it by accident.
    registerSecret('Delinea application account password', server.password);
    secretId = server.createSecret('kleidi-kek');
    env = kleidiEnv(server, credentialFile(dir, server.password), secretId);
    const init = await runCli(
      'delinea-admin',
      ['init', '--backend', 'delinea', '--state-dir', join(dir, 'state-admin')],
      env,
    );
    expect(init.code, init.stderr).toBe(0);
    for (const k of (JSON.parse(server.field(secretId) ?? '{}') as { keys: { material: string }[] }).keys) {
      registerSecret('Delinea KEK (base64)', k.material);
    }
    node = new KleidiNode({
      name: 'delinea',
      socket: join(dir, 'kms.sock'),
      stateDir: join(dir, 'state'),
      backend: 'delinea',
      env,
    });
    await node.start();
    run = { backend: 'delinea', node, health: new HealthWatch(node.spec.socket), journals: [] };
  });

  afterAll(async () => {
    await run?.health.stop();
    await node?.stop();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** An older entry of the ring with its material cut short; undone by putting the text back. */
  let saved: string | undefined;
  const breakOldEntry = async () => {
    const text = server.field(secretId) ?? '';
    saved = text;
    const doc = JSON.parse(text) as { keys: { material: string }[] };
    const first = doc.keys[0];
    if (!first || doc.keys.length < 2) throw new Error('the ring needs two versions (run after the rotate fault)');
    first.material = first.material.slice(0, 10);
    server.setField(secretId, JSON.stringify(doc));
  };

  const faults = (): Fault[] => [
    sigkillFault(node),
    {
      name: 'Secret Server down for 8 s, then back on the same port',
      outage: true,
      holdMs: 8_000,
      allowed: [],
      note:
        'connections refused: the refresh cannot read the ring and health reports it; the KEKs are in memory, so Encrypt ' +
        'and Decrypt keep answering OK',
      inject: () => server.down(),
      restore: () => server.up(),
    },
    {
      name: 'every access token expired',
      outage: false,
      holdMs: 3_000,
      allowed: [],
      note: 'the next read gets 401; kleidi fetches one new token and retries once: no failed call, health stays ok',
      inject: async () => server.expireTokens(),
      restore: async () => {},
    },
    rotationFault(run, () =>
      runCli('delinea-admin', ['rotate', '--backend', 'delinea', '--state-dir', join(dir, 'state-admin')], env),
    ),
    {
      name: 'an older KEK ring entry malformed',
      outage: false,
      holdMs: 3_000,
      allowed: [],
      note:
        'the oldest version is set aside with a warning; the current one still serves, so no call fails (data under the ' +
        'broken version would fail key-unusable → FAILED_PRECONDITION, the unit of the contract tests)',
      inject: breakOldEntry,
      restore: async () => {
        if (saved !== undefined) server.setField(secretId, saved);
      },
    },
    {
      name: 'the KEK secret deleted for 6 s, then restored',
      outage: true,
      holdMs: 6_000,
      allowed: ['FailedPrecondition'],
      note:
        'the ring read answers 404: backend-misconfigured, which stops writes until an operator acts (kubernetes#138950), so ' +
        'Encrypt fails FAILED_PRECONDITION; Decrypt keeps working from memory; restored, the next refresh reopens writes',
      inject: async () => server.deleteSecret(secretId),
      restore: async () => server.restoreSecret(secretId),
    },
  ];

  it('faults under load: SIGKILL, server down, tokens expired, rotate, malformed entry, secret deleted', async () => {
    expect(await runCampaign(run, faults, share)).toEqual([]);
  });

  it('after a restart, every Encrypt that returned OK decrypts to its original', async () => {
    const { invariants, verify } = await restartAndVerify(run);
    expect(broken({ invariants }), JSON.stringify(verify)).toEqual([]);
  });
});

/**
 * The delinea backend in remote mode against the in-process fake DSV tenant
 * (test/support/fake-delinea-dsv.ts): every wrap and unwrap is a DSV call, so an outage fails
 * calls after the retries that fit in the 2.5 s budget, and a deleted key stops writes.
 */
describe('reliability: delinea backend (fake DSV, remote)', () => {
  let dir: string;
  let dsv: FakeDsv;
  let node: KleidiNode;
  let run: BackendRun;
  let env: Record<string, string>;
  const keyPath = 'kleidi/campaign';

  beforeAll(async () => {
    dir = await mkdtemp('/tmp/kleidi-rel-delinea-dsv-');
    dsv = await startFakeDsv({ dir });
    registerSecret('DSV client secret', dsv.clientSecret);
    env = remoteEnv(dsv, credentialFile(dir, dsv.clientSecret), keyPath);
    const init = await runCli(
      'delinea-dsv-admin',
      ['init', '--backend', 'delinea', '--state-dir', join(dir, 'state-admin')],
      env,
    );
    expect(init.code, init.stderr).toBe(0);
    node = new KleidiNode({
      name: 'delinea-remote',
      socket: join(dir, 'kms.sock'),
      stateDir: join(dir, 'state'),
      backend: 'delinea',
      env,
    });
    await node.start();
    run = { backend: 'delinea-remote', node, health: new HealthWatch(node.spec.socket), journals: [] };
  });

  afterAll(async () => {
    await run?.health.stop();
    await node?.stop();
    await dsv?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const faults = (): Fault[] => [
    {
      name: 'DSV down for 8 s, then back on the same port',
      outage: true,
      holdMs: 8_000,
      allowed: ['Unavailable', 'DeadlineExceeded'],
      note:
        'connections refused: each call retries inside its 2.5 s budget, then UNAVAILABLE; DEADLINE_EXCEEDED only if ' +
        "the apiserver's 3 s deadline comes first",
      inject: () => dsv.down(),
      restore: () => dsv.up(),
    },
    {
      name: 'every DSV access token expired',
      outage: false,
      holdMs: 3_000,
      allowed: [],
      note: 'the next call gets 401; kleidi fetches one new token and retries once: no failed call',
      inject: async () => dsv.expireTokens(),
      restore: async () => {},
    },
    rotationFault(run, () =>
      runCli('delinea-dsv-admin', ['rotate', '--backend', 'delinea', '--state-dir', join(dir, 'state-admin')], env),
    ),
    {
      name: 'the DSV key deleted for 6 s, then restored',
      outage: true,
      holdMs: 6_000,
      allowed: ['FailedPrecondition'],
      note:
        'DSV answers 404: backend-misconfigured for Encrypt and Decrypt (an operator must restore the key), which also ' +
        'stops writes until a refresh succeeds (kubernetes#138950)',
      inject: async () => dsv.deleteKey(keyPath),
      restore: async () => dsv.restoreKey(keyPath),
    },
  ];

  it('faults under load: DSV down, tokens expired, rotate, key deleted', async () => {
    const r = rounds(SOAK_SHARE_MS);
    const failures: string[] = [];
    for (let round = 0; r.more(round); round++) {
      for (const f of faults()) {
        const res = await runFault(run, f, round);
        if (broken(res).length > 0) failures.push(`${f.name}: ${broken(res).join('; ')}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('after a restart, every Encrypt that returned OK decrypts to its original', async () => {
    const { invariants, verify } = await restartAndVerify(run);
    expect(broken({ invariants }), JSON.stringify(verify)).toEqual([]);
  });
});
