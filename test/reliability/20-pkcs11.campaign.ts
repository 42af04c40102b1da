import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { softHsmFixture, type SoftHsmFixture } from '../support/softhsm.fixture.js';
import { registerSecret, rounds, SOAK_SHARE_MS } from './support/env.js';
import { broken, restartAndVerify, rotationFault, runFault, sigkillFault, type BackendRun } from './support/faults.js';
import { HealthWatch } from './support/health.js';
import { KleidiNode, runCli } from './support/kleidi.js';

/**
 * The PKCS#11 backend on SoftHSM2: a token of its own (SOFTHSM2_CONF in a
 * temp dir), the PIN in a 0600 file, kleidi configured through KLEIDI_* env
 * as an operator would.
 */
describe('reliability: pkcs11 backend (SoftHSM2)', () => {
  let dir: string;
  let fx: SoftHsmFixture;
  let node: KleidiNode;
  let run: BackendRun;
  let env: Record<string, string>;
  const share = SOAK_SHARE_MS;

  beforeAll(async () => {
    // Distinctive PINs, so the log scan cannot miss them or hit them by accident.
    const pin = `pin-${randomBytes(8).toString('hex')}`;
    const soPin = `so-${randomBytes(8).toString('hex')}`;
    registerSecret('PKCS#11 user PIN', pin);
    registerSecret('PKCS#11 SO PIN', soPin);
    fx = await softHsmFixture({ label: 'kleidi-rel', pin, soPin });
    dir = await mkdtemp('/tmp/kleidi-rel-p11-');
    env = { SOFTHSM2_CONF: fx.conf, KLEIDI_PKCS11_TOKEN_LABEL: fx.label, KLEIDI_PKCS11_PIN_FILE: fx.pinFile };
    const init = await runCli('pkcs11-admin', ['init', '--backend', 'pkcs11', '--state-dir', join(dir, 'state')], env);
    expect(init.code, init.stderr).toBe(0);
    node = new KleidiNode({
      name: 'pkcs11',
      socket: join(dir, 'kms.sock'),
      stateDir: join(dir, 'state'),
      backend: 'pkcs11',
      env,
    });
    await node.start();
    run = { backend: 'pkcs11', node, health: new HealthWatch(node.spec.socket), journals: [] };
  });

  afterAll(async () => {
    await run?.health.stop();
    await node?.stop();
    await fx?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('SIGKILL and restart under load', async () => {
    const r = rounds(share / 4);
    for (let round = 0; r.more(round); round++) {
      const res = await runFault(run, sigkillFault(node), round);
      expect(broken(res), JSON.stringify(res, null, 1)).toEqual([]);
    }
  });

  it('SoftHSM token directory removed and restored under load', async () => {
    const r = rounds(share / 2);
    for (let round = 0; r.more(round); round++) {
      const res = await runFault(
        run,
        {
          name: 'token directory removed, then restored',
          outage: true,
          holdMs: 4_000,
          allowed: ['Unavailable'],
          note: 'the token is gone (CKR_TOKEN_NOT_PRESENT/CKR_DEVICE_REMOVED…): backend-unavailable → UNAVAILABLE, fast; recovery re-initialises the module',
          inject: () => fx.removeToken(),
          restore: () => fx.restoreToken(),
        },
        round,
      );
      expect(broken(res), JSON.stringify(res, null, 1)).toEqual([]);
    }
  });

  it('SoftHSM token directory removed for 20 s, then restored (reconnect backoff at its longest in CI)', async () => {
    const res = await runFault(
      run,
      {
        name: 'token directory removed for 20 s, then restored',
        outage: true,
        holdMs: 20_000,
        allowed: ['Unavailable'],
        note: "a longer outage lets the reconnect backoff grow; recovery must still come within 5 s of the token's return",
        inject: () => fx.removeToken(),
        restore: () => fx.restoreToken(),
      },
      0,
    );
    expect(broken(res), JSON.stringify(res, null, 1)).toEqual([]);
  });

  it('kleidi rotate while serving under load', async () => {
    const r = rounds(share / 4);
    for (let round = 0; r.more(round); round++) {
      const rotate = () =>
        runCli('pkcs11-admin', ['rotate', '--backend', 'pkcs11', '--state-dir', join(dir, 'state')], env);
      const res = await runFault(run, rotationFault(run, rotate), round);
      expect(broken(res), JSON.stringify(res, null, 1)).toEqual([]);
    }
  });

  it('after a restart, every Encrypt that returned OK decrypts to its original', async () => {
    const { invariants, verify } = await restartAndVerify(run);
    expect(broken({ invariants }), JSON.stringify(verify)).toEqual([]);
  });
});
