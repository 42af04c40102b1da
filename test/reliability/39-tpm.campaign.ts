import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TpmCommands } from '../../src/adapters/outbound/tpm/tpm.commands.js';
import { TPM_RH_OWNER } from '../../src/adapters/outbound/tpm/tpm.constants.js';
import { TpmResponseError } from '../../src/adapters/outbound/tpm/tpm.errors.js';
import { baseCode, RC } from '../../src/adapters/outbound/tpm/tpm.response-code.js';
import { SocketTransport } from '../../src/adapters/outbound/tpm/tpm.socket-transport.js';
import { srkTemplate } from '../../src/adapters/outbound/tpm/tpm.templates.js';
import { KmsTestClient } from '../support/grpc-client.js';
import { kleidiEnv } from '../backends/tpm.harness.js';
import { type Swtpm, startSwtpm } from '../support/swtpm.fixture.js';
import { record, registerSecret, SOAK_SHARE_MS } from './support/env.js';
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
import { KleidiNode, runCli, type StatusSample, statusOnce } from './support/kleidi.js';

/** A TPM_PT_VAR property (TPM 2.0 Library Part 2, 6.13) as tpm2_getcap prints it. */
async function variable(swtpm: Swtpm, name: string): Promise<number> {
  const out = await swtpm.tools('tpm2_getcap', ['properties-variable']);
  const m = new RegExp(`${name}:\\s*(?:raw:\\s*)?(0x[0-9a-f]+|\\d+)`, 'i').exec(out);
  if (!m?.[1]) throw new Error(`no ${name} in tpm2_getcap output:\n${out}`);
  return Number(m[1]);
}

/** TPM2_PT_LOCKOUT_COUNTER (TPM_PT_VAR + 14). */
const lockoutCounter = (swtpm: Swtpm) => variable(swtpm, 'TPM2_PT_LOCKOUT_COUNTER');

/** Polls Status until `ok` holds (kleidi's refresh runs every 10 s by default); the first matching sample. */
async function statusUntil(socket: string, ok: (s: StatusSample) => boolean, ms = 40_000): Promise<StatusSample> {
  const deadline = Date.now() + ms;
  let last: StatusSample | undefined;
  while (Date.now() < deadline) {
    last = await statusOnce(socket, 3_000);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Status never matched within ${ms} ms; last: ${JSON.stringify(last)}`);
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

  /**
   * A node key file with one more version, made by `kleidi rotate` on a copy, so the served file
   * changes only when the copy is renamed over it (while the TPM is in the state under test).
   */
  async function preparedRotation(tag: string): Promise<{ swapIn: () => Promise<void>; keyId: string }> {
    const served = env.KLEIDI_TPM_NODE_KEY_FILE as string;
    const copy = join(dir, `tpm-node-keys.${tag}.json`);
    await copyFile(served, copy);
    await chmod(copy, 0o600);
    const r = await runCli(
      'tpm-admin',
      ['rotate', '--backend', 'tpm', '--state-dir', join(dir, 'state-admin'), '--output', 'json'],
      { ...env, KLEIDI_TPM_NODE_KEY_FILE: copy },
    );
    expect(r.code, r.stderr).toBe(0);
    const keyId = (JSON.parse(r.stdout) as { current: { keyId: string } }).current.keyId;
    return { swapIn: () => rename(copy, served), keyId };
  }

  /** Encrypt then Decrypt through the serving node: it keeps serving with the versions it holds. */
  async function roundTrip(): Promise<void> {
    const c = new KmsTestClient(node.spec.socket);
    try {
      const plaintext = randomBytes(32);
      const enc = await c.encrypt(plaintext);
      const dec = await c.decrypt({ ciphertext: enc.ciphertext, keyId: enc.keyId, annotations: enc.annotations });
      expect(Buffer.from(dec.plaintext)).toEqual(plaintext);
    } finally {
      c.close();
    }
  }

  it('faults under load: SIGKILL, swtpm killed and restarted, kleidi rotate', async () => {
    expect(await runCampaign(run, faults, share)).toEqual([]);
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

  it('dictionary-attack lockout: health names it, no attempt is spent, recovery once cleared', async () => {
    const prepared = await preparedRotation('lockout');
    const held = await statusUntil(node.spec.socket, (x) => x.healthz === 'ok');
    // The TPM's DA parameters, restored afterwards (TPM_PT_MAX_AUTH_FAIL, _LOCKOUT_INTERVAL, _LOCKOUT_RECOVERY).
    const [maxTries, interval, recovery] = [
      await variable(swtpm, 'TPM2_PT_MAX_AUTH_FAIL'),
      await variable(swtpm, 'TPM2_PT_LOCKOUT_INTERVAL'),
      await variable(swtpm, 'TPM2_PT_LOCKOUT_RECOVERY'),
    ];
    const setup = (n: number) =>
      swtpm.tools('tpm2_dictionarylockout', ['-s', `-n${n}`, `-t${interval}`, `-l${recovery}`]);
    // An empty lockout auth (swtpm's initial state) lets the test clear and set up the DA logic.
    await swtpm.tools('tpm2_dictionarylockout', ['-c']);
    await setup(1);
    try {
      // One failed authorisation (a start with a wrong auth file) now locks DA-protected objects out.
      const wrongDir = await mkdtemp(join(dir, 'lockout-'));
      await writeFile(join(wrongDir, 'tpm-auth'), 'not-the-auth-value\n', { mode: 0o600 });
      const refused = await runCli(
        'tpm-lockout',
        ['serve', '--backend', 'tpm', '--socket', join(wrongDir, 'kms.sock'), '--state-dir', join(wrongDir, 'state')],
        { ...env, KLEIDI_TPM_AUTH_FILE: join(wrongDir, 'tpm-auth') },
        [],
        20_000,
      );
      expect(refused.stderr + refused.stdout).toMatch(/auth value \(tpm\.authFile\) is wrong/);
      expect(await lockoutCounter(swtpm)).toBe(1);
      // A start in lockout names it and the fix.
      const locked = await runCli(
        'tpm-lockout',
        ['serve', '--backend', 'tpm', '--socket', join(wrongDir, 'kms.sock'), '--state-dir', join(wrongDir, 'state')],
        env,
        [],
        20_000,
      );
      expect(locked.code).not.toBe(0);
      expect(locked.stderr + locked.stdout).toMatch(
        /TPM_RC_LOCKOUT.*dictionary-attack lockout.*tpm2_dictionarylockout -c/,
      );

      // The serving node's key file gains a version it must unseal: refused, health says why, it keeps serving.
      const t0 = Date.now();
      await prepared.swapIn();
      const degraded = await statusUntil(node.spec.socket, (x) => x.answered && x.healthz !== 'ok');
      const detectMs = Date.now() - t0;
      expect(degraded.healthz, degraded.healthz).toMatch(/TPM_RC_LOCKOUT.*dictionary-attack lockout/);
      expect(degraded.keyId).toBe(held.keyId);
      await roundTrip();
      expect(await lockoutCounter(swtpm)).toBe(1);

      const t1 = Date.now();
      await swtpm.tools('tpm2_dictionarylockout', ['-c']);
      const healthy = await statusUntil(node.spec.socket, (x) => x.healthz === 'ok' && x.keyId === prepared.keyId);
      const recoverMs = Date.now() - t1;
      await roundTrip();
      record({
        kind: 'tpm-lockout',
        backend: 'tpm',
        name: 'DA lockout, then cleared',
        detectMs,
        recoverMs,
        degraded: degraded.healthz,
        keyId: healthy.keyId,
      });
    } finally {
      await swtpm.tools('tpm2_dictionarylockout', ['-c']);
      await setup(maxTries);
    }
  });

  it('a full transient object table: health names it, kleidi holds no handle, recovery once slots free', async () => {
    const prepared = await preparedRotation('slots');
    const held = await statusUntil(node.spec.socket, (x) => x.healthz === 'ok');
    // Another client fills every transient slot (swtpm's raw socket has no resource manager to page them out).
    const other = new TpmCommands(new SocketTransport('127.0.0.1', swtpm.port));
    const fillers: number[] = [];
    try {
      for (;;) {
        const full = await other.createPrimary(TPM_RH_OWNER, Buffer.alloc(0), srkTemplate()).then(
          (o) => {
            fillers.push(o.handle);
            return false;
          },
          (e: unknown) => {
            if (e instanceof TpmResponseError && baseCode(e.rc.code) === RC.OBJECT_MEMORY) return true;
            throw e;
          },
        );
        if (full) break;
        if (fillers.length > 64) throw new Error('the TPM never ran out of transient slots');
      }
      const t0 = Date.now();
      await prepared.swapIn();
      const degraded = await statusUntil(node.spec.socket, (x) => x.answered && x.healthz !== 'ok');
      const detectMs = Date.now() - t0;
      expect(degraded.healthz, degraded.healthz).toMatch(/TPM_RC_OBJECT_MEMORY/);
      expect(degraded.keyId).toBe(held.keyId);
      await roundTrip();
      // kleidi left nothing loaded: the table holds the other client's objects only.
      expect((await other.getHandles()).sort()).toEqual([...fillers].sort());

      const slots = fillers.length;
      const t1 = Date.now();
      for (const h of fillers.splice(0)) await other.flushContext(h);
      const healthy = await statusUntil(node.spec.socket, (x) => x.healthz === 'ok' && x.keyId === prepared.keyId);
      const recoverMs = Date.now() - t1;
      await roundTrip();
      expect(await other.getHandles()).toEqual([]);
      record({
        kind: 'tpm-object-memory',
        backend: 'tpm',
        name: 'transient slots full, then freed',
        slots,
        detectMs,
        recoverMs,
        degraded: degraded.healthz,
        keyId: healthy.keyId,
      });
    } finally {
      for (const h of fillers) await other.flushContext(h).catch(() => undefined);
    }
  });
  it('a PCR change (firmware update, then reboot) on a PCR-bound node: health names it, no lockout attempt, re-provisioning recovers it', async () => {
    // A second node on the same swtpm, bound to PCRs 0 and 7 (tpm.pcrs), provisioned from the ring
    // with the offline flow; it has no ring file of its own.
    const pdir = await mkdtemp(join(dir, 'pcr-'));
    const { KLEIDI_TPM_RING_FILE: _ring, ...shared } = env;
    const nodeEnv = {
      ...shared,
      KLEIDI_TPM_PCRS: 'sha256:0,7',
      KLEIDI_TPM_NODE_KEY_FILE: join(pdir, 'tpm-node-keys.json'),
    };
    let provisioned = 0;
    const provision = async (): Promise<{ selection: string; values: string[] }> => {
      const tag = `p${provisioned++}`;
      const cli = async (args: string[], e: Record<string, string>) => {
        const r = await runCli('tpm-pcr-provision', args, e);
        expect(r.code, r.stderr).toBe(0);
        return r.stdout;
      };
      const enrolled = await cli(['tpm', 'enroll', '--state-dir', join(pdir, 'state')], nodeEnv);
      const enrollment = join(pdir, `enrollment-${tag}.json`);
      const bundle = join(pdir, `bundle-${tag}.json`);
      await writeFile(enrollment, enrolled, { mode: 0o600 });
      await cli(
        ['tpm', 'provision', '--state-dir', join(dir, 'state-admin'), '--node-pub', enrollment, '--out', bundle],
        env,
      );
      await cli(['tpm', 'import', '--state-dir', join(pdir, 'state'), '--bundle', bundle], nodeEnv);
      return (JSON.parse(enrolled) as { pcrs: { selection: string; values: string[] } }).pcrs;
    };
    const before = await provision();
    expect(before.selection).toBe('sha256:0,7');
    const bound = new KleidiNode({
      name: 'tpm-pcr',
      socket: join(pdir, 'kms.sock'),
      stateDir: join(pdir, 'state'),
      backend: 'tpm',
      env: nodeEnv,
    });
    await bound.start();
    const prun: BackendRun = { backend: 'tpm', node: bound, health: new HealthWatch(bound.spec.socket), journals: [] };
    const pcrRefusal = /PCR values changed since provisioning \(TPM_RC_POLICY_FAIL/;
    const refusedForPcrs = (x: StatusSample) => !x.answered && pcrRefusal.test(x.message ?? '');
    let lockoutBefore = 0;
    let during: StatusSample | undefined;
    const calls: { encrypt?: string; decrypt?: string } = {};
    try {
      // A ciphertext from before the update, decrypted while the node is refused and after recovery.
      const c = new KmsTestClient(bound.spec.socket);
      const plaintext = randomBytes(32);
      const old = await c.encrypt(plaintext).finally(() => c.close());
      const fault: Fault = {
        name: 'PCR change: PCR 7 extended (firmware update) and kleidi restarted (reboot), then re-provisioned',
        outage: true,
        restartsKleidi: true,
        holdMs: 5_000,
        allowed: ['Unavailable', 'DeadlineExceeded', 'FailedPrecondition'],
        note:
          'after the reboot the TPM refuses the bound KEKs (TPM_RC_POLICY_FAIL): kleidi starts holding none, Status, Encrypt and ' +
          'Decrypt fail FAILED_PRECONDITION naming the PCR change (a KeyUnusableError), with no dictionary-attack attempt spent; ' +
          're-enrolling and re-provisioning from the ring (docs/backends/tpm.md#pcr-change) brings it back without a restart',
        inject: async () => {
          lockoutBefore = await lockoutCounter(swtpm);
          await bound.stop('SIGKILL');
          await swtpm.tools('tpm2_pcrextend', [`7:sha256=${randomBytes(32).toString('hex')}`]);
          await bound.start({ ready: refusedForPcrs });
        },
        restore: async () => {
          during = await statusOnce(bound.spec.socket, 3_000);
          const k = new KmsTestClient(bound.spec.socket);
          try {
            calls.encrypt = await k.encrypt(randomBytes(32)).then(
              () => 'succeeded',
              (e: { code?: number; details?: string }) => `${e.code}: ${e.details}`,
            );
            calls.decrypt = await k
              .decrypt({ ciphertext: old.ciphertext, keyId: old.keyId, annotations: old.annotations })
              .then(
                () => 'succeeded',
                (e: { code?: number; details?: string }) => `${e.code}: ${e.details}`,
              );
          } finally {
            k.close();
          }
          expect(await lockoutCounter(swtpm)).toBe(lockoutBefore);
          await provision();
        },
      };
      const res = await runFault(prun, fault, 0);
      expect(broken(res), JSON.stringify(res)).toEqual([]);
      // FAILED_PRECONDITION (gRPC code 9) with the PCR reason, from Status, Encrypt and Decrypt alike.
      expect(during?.code).toBe(9);
      expect(during?.message).toMatch(pcrRefusal);
      expect(calls.encrypt).toMatch(/^9: PCR values changed since provisioning/);
      expect(calls.decrypt).toMatch(/^9: PCR values changed since provisioning/);
      const after = new KmsTestClient(bound.spec.socket);
      try {
        const dec = await after.decrypt({ ciphertext: old.ciphertext, keyId: old.keyId, annotations: old.annotations });
        expect(Buffer.from(dec.plaintext)).toEqual(plaintext);
      } finally {
        after.close();
      }
      record({
        kind: 'tpm-pcr-change',
        backend: 'tpm',
        name: 'PCR change and reboot, then re-provisioned',
        detectMs: res.detectMs,
        recoverMs: res.recoverMs,
        degraded: `${during?.code}: ${during?.message}`,
        lockoutCounterBefore: lockoutBefore,
        lockoutCounterAfter: await lockoutCounter(swtpm),
      });
    } finally {
      await prun.health.stop();
      await bound.stop();
    }
  });
});
