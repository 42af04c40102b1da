import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kleidiEnv } from '../backends/tpm.harness.js';
import { type Swtpm, startSwtpm } from '../support/swtpm.fixture.js';
import { record, registerSecret, rounds, SOAK_SHARE_MS } from './support/env.js';
import {
  type BackendRun,
  broken,
  type Fault,
  restartAndVerify,
  rotationFault,
  runFault,
  sigkillFault,
} from './support/faults.js';
import { HealthWatch } from './support/health.js';
import { KleidiNode, runCli } from './support/kleidi.js';

/** TPM2_PT_LOCKOUT_COUNTER (TPM 2.0 Library Part 2, 6.13: TPM_PT_VAR + 14) as tpm2_getcap prints it. */
async function lockoutCounter(swtpm: Swtpm): Promise<number> {
  const out = await swtpm.tools('tpm2_getcap', ['properties-variable']);
  const m = /TPM2_PT_LOCKOUT_COUNTER:\s*(?:raw:\s*)?(0x[0-9a-f]+|\d+)/i.exec(out);
  if (!m?.[1]) throw new Error(`no TPM2_PT_LOCKOUT_COUNTER in tpm2_getcap output:\n${out}`);
  return Number(m[1]);
}

/**
 * The tpm backend against swtpm (a software TPM 2.0 on loopback, scripts/setup-swtpm.sh).
 * kleidi unseals its KEK versions when it opens the node key file and then serves from memory
 * (ADR 0014), so the TPM going away must cost no call; it is needed again by `kleidi rotate` and
 * by the reload that follows it. A wrong auth value must cost exactly one failed authorisation
 * (one step toward dictionary-attack lockout), never a retry loop.
 */
describe('reliability: tpm backend (swtpm)', () => {
  let dir: string;
  let swtpm: Swtpm;
  let node: KleidiNode;
  let run: BackendRun;
  let env: Record<string, string>;
  const share = SOAK_SHARE_MS;

  beforeAll(async () => {
    dir = await mkdtemp('/tmp/kleidi-rel-tpm-');
    swtpm = await startSwtpm();
    env = kleidiEnv(swtpm, dir);
    // A distinctive auth value, so the log scan cannot miss it or hit it by accident.
    const auth = `tpm-${randomBytes(12).toString('hex')}`; // 28 bytes: at most 32 (SHA-256 digest size)
    registerSecret('TPM auth value', auth);
    await writeFile(env.KLEIDI_TPM_AUTH_FILE as string, `${auth}\n`, { mode: 0o600 });
    const init = await runCli('tpm-admin', ['init', '--backend', 'tpm', '--state-dir', join(dir, 'state-admin')], env);
    expect(init.code, init.stderr).toBe(0);
    node = new KleidiNode({
      name: 'tpm',
      socket: join(dir, 'kms.sock'),
      stateDir: join(dir, 'state'),
      backend: 'tpm',
      env,
    });
    await node.start();
    run = { backend: 'tpm', node, health: new HealthWatch(node.spec.socket), journals: [] };
  });

  afterAll(async () => {
    await run?.health.stop();
    await node?.stop();
    await swtpm?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const faults = (): Fault[] => [
    sigkillFault(node),
    {
      name: 'swtpm killed for 6 s, then restarted with its state',
      outage: false,
      holdMs: 6_000,
      allowed: [],
      note:
        'kleidi holds the unsealed KEK versions in memory (ADR 0014) and needs the TPM only for a new node key file, ' +
        'so no call fails; the TPM state (primary seed) survives the restart, so the node key file still loads afterwards',
      inject: () => swtpm.kill(),
      restore: () => swtpm.restart(),
    },
    // After the TPM came back: rotate imports a new version into it, and the server reloads through it.
    rotationFault(run, () =>
      runCli('tpm-admin', ['rotate', '--backend', 'tpm', '--state-dir', join(dir, 'state-admin')], env),
    ),
  ];

  it('faults under load: SIGKILL, swtpm killed and restarted, kleidi rotate', async () => {
    const r = rounds(share);
    const failures: string[] = [];
    for (let round = 0; r.more(round); round++) {
      for (const f of faults()) {
        const res = await runFault(run, f, round);
        if (broken(res).length > 0) failures.push(`${f.name}: ${broken(res).join('; ')}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('a wrong auth value: one failed authorisation, a clear refusal to start, nothing lost', async () => {
    const wrongDir = await mkdtemp(join(dir, 'wrong-auth-'));
    const wrongAuth = join(wrongDir, 'tpm-auth');
    await writeFile(wrongAuth, 'not-the-auth-value\n', { mode: 0o600 });
    const before = await lockoutCounter(swtpm);
    const t0 = Date.now();
    const r = await runCli(
      'tpm-wrong-auth',
      ['serve', '--backend', 'tpm', '--socket', join(wrongDir, 'kms.sock'), '--state-dir', join(wrongDir, 'state')],
      { ...env, KLEIDI_TPM_AUTH_FILE: wrongAuth },
      [],
      20_000,
    );
    const after = await lockoutCounter(swtpm);
    record({
      kind: 'tpm-wrong-auth',
      backend: 'tpm',
      name: 'serve with a wrong auth value',
      exitCode: r.code,
      ms: Date.now() - t0,
      lockoutCounterBefore: before,
      lockoutCounterAfter: after,
    });
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr + r.stdout).toMatch(/auth value \(tpm\.authFile\) is wrong/);
    expect(after - before).toBe(1);
    // The serving node and its key file are untouched: a restart still decrypts every journal.
    const { invariants, verify } = await restartAndVerify(run);
    expect(broken({ invariants }), JSON.stringify(verify)).toEqual([]);
  });
});
