import type { ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, KmsTestClient, Status } from '../support/grpc-client.js';
import { startKleidi, tempDir, type KleidiProcess } from '../support/kleidi-process.js';
import {
  freePort,
  launch,
  onAFreePort,
  requireVaultBinary,
  secretFile,
  serverAt,
  setUpTransit,
  waitHealthy,
  type VaultServer,
} from '../support/vault-server.fixture.js';

/**
 * kleidi serving a real Vault that stops answering: the Vault process is
 * paused with SIGSTOP, so its kernel still accepts TCP connections but nothing
 * ever replies (a hung backend, not a refused one). Status answers from cached
 * state; what matters is how soon that state says the backend is gone.
 *
 * kleidi runs with the default refresh interval (10 s): the periodic probe
 * alone would notice the outage only at its next run. The live call's failure
 * must start a probe at once, and Status must turn non-ok as soon as that
 * probe fails or runs out of time.
 */

/**
 * Generous: a failed call (at most 3 s), at most a second's spacing before its
 * probe, then the probe's 3 s; the refresh interval and budget alone take 10 s.
 */
const DOWN_WITHIN_MS = 9_000;
/** kube-apiserver's default KMS call timeout (EncryptionConfiguration `timeout`, 3 s). */
const CALL_DEADLINE_MS = 3_000;

interface PausableVault {
  server: VaultServer;
  proc: ChildProcess;
  pause(): void;
  resume(): void;
}

function startPausableVault(): Promise<PausableVault> {
  return onAFreePort(startPausableVaultOnce);
}

async function startPausableVaultOnce(): Promise<PausableVault> {
  const bin = requireVaultBinary();
  const dir = await mkdtemp(join(tmpdir(), 'kleidi-vault-hung-'));
  const port = await freePort();
  const args = ['server', '-dev', '-dev-root-token-id=root', `-dev-listen-address=127.0.0.1:${port}`];
  const proc = launch(bin, args.concat('-dev-no-store-token'), dir);
  const server = serverAt(`http://127.0.0.1:${port}`, 'root', dir, undefined, proc);
  try {
    await waitHealthy(server, proc);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return {
    server,
    proc,
    pause: () => void proc.kill('SIGSTOP'),
    resume: () => void proc.kill('SIGCONT'),
  };
}

/** Polls Status every 100 ms until `pred` holds or `withinMs` passes; returns the ms it took, or undefined. */
async function statusTurns(
  c: KmsTestClient,
  pred: (healthz: string) => boolean,
  withinMs: number,
  since = performance.now(),
): Promise<number | undefined> {
  for (;;) {
    const healthz = await c.status(1_000).then(
      (s) => s.healthz,
      () => 'status failed',
    );
    if (pred(healthz)) return Math.round(performance.now() - since);
    if (performance.now() - since > withinMs) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Status with a hung Vault (real process, Vault paused with SIGSTOP)', () => {
  let vault: PausableVault;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let k: KleidiProcess;
  let c: KmsTestClient;
  let env: Record<string, string>;

  beforeAll(async () => {
    vault = await startPausableVault();
    await setUpTransit(vault.server);
    tmp = await tempDir();
    env = {
      KLEIDI_BACKEND: 'vault',
      KLEIDI_VAULT_ADDRESS: vault.server.address,
      KLEIDI_VAULT_TOKEN_FILE: await secretFile(vault.server.dir, 'token', vault.server.rootToken),
    };
    k = await startKleidi(tmp.dir, ['--refresh-interval', '10s'], env);
    c = new KmsTestClient(k.socket);
  }, 120_000);
  afterEach(async () => {
    vault?.resume();
    // Back to healthy before the next test, whatever this one left behind.
    if (c) expect(await statusTurns(c, (h) => h === 'ok', 20_000)).toBeDefined();
  }, 30_000);
  afterAll(async () => {
    c?.close();
    vault?.resume();
    await k?.stop();
    await vault?.server.stop();
    await tmp?.cleanup();
  });

  it('turns healthz non-ok within seconds of a live call failing on the hung backend (default settings)', async () => {
    expect((await c.status()).healthz).toBe('ok');
    vault.pause();
    const paused = performance.now();
    // What kube-apiserver would do: keep calling; the calls fail as UNAVAILABLE inside its deadline.
    const code = await codeOf(c.encrypt(new Uint8Array(32).fill(7), CALL_DEADLINE_MS));
    const failedAfter = Math.round(performance.now() - paused);
    expect(code).toBe(Status.UNAVAILABLE);
    const down = await statusTurns(c, (h) => h !== 'ok', 20_000, paused);
    console.log(`hung Vault: Encrypt failed after ${failedAfter} ms; Status non-ok after ${down ?? '>20000'} ms`);
    expect(down).toBeDefined();
    expect(down).toBeLessThan(DOWN_WITHIN_MS);
    expect((await c.status()).healthz).toMatch(/backend-unavailable|deadline-exceeded/);
  }, 60_000);

  /**
   * A backend call that does not end by itself (here: Vault with a 20 s call
   * budget, as a network HSM without one would behave) runs into the caller's
   * deadline, so the caller sees DEADLINE_EXCEEDED, and the probe it starts
   * hangs as well. Status must still turn non-ok within seconds: the call's
   * deadline counts as backend trouble, and the probe has 3 s to pass.
   */
  it("turns healthz non-ok within seconds when the hung backend's calls outlast the caller's deadline", async () => {
    const slow = await tempDir();
    const k2 = await startKleidi(slow.dir, ['--refresh-interval', '10s'], {
      ...env,
      KLEIDI_VAULT_CALL_TIMEOUT_MS: '20000',
      KLEIDI_VAULT_ATTEMPT_TIMEOUT_MS: '20000',
    });
    const c2 = new KmsTestClient(k2.socket);
    try {
      expect((await c2.status()).healthz).toBe('ok');
      vault.pause();
      const paused = performance.now();
      // An apiserver whose EncryptionConfiguration sets `timeout: 1s`.
      const code = await codeOf(c2.encrypt(new Uint8Array(32).fill(7), 1_000));
      expect(code).toBe(Status.DEADLINE_EXCEEDED);
      const down = await statusTurns(c2, (h) => h !== 'ok', 25_000, paused);
      console.log(`hung Vault, 20 s call budget: Status non-ok after ${down ?? '>25000'} ms`);
      expect(down).toBeDefined();
      expect(down).toBeLessThan(DOWN_WITHIN_MS);
      expect((await c2.status()).healthz).toMatch(/^deadline-exceeded: /);
    } finally {
      vault.resume();
      c2.close();
      await k2.stop();
      await slow.cleanup();
    }
  }, 90_000);

  it('keeps healthz ok through one transient failure the probe it starts does not see', async () => {
    expect((await c.status()).healthz).toBe('ok');
    // Paused just long enough for one call to fail: resumed before the probe that failure starts can fail.
    vault.pause();
    const code = await codeOf(c.encrypt(new Uint8Array(32).fill(7), CALL_DEADLINE_MS));
    vault.resume();
    expect(code).toBe(Status.UNAVAILABLE);
    const flipped = await statusTurns(c, (h) => h !== 'ok', 6_000);
    expect(flipped).toBeUndefined();
    const seed = new Uint8Array(32).fill(9);
    const enc = await c.encrypt(seed);
    const dec = await c.decrypt({ ciphertext: enc.ciphertext, keyId: enc.keyId, annotations: enc.annotations });
    expect(Buffer.from(dec.plaintext)).toEqual(Buffer.from(seed));
  }, 60_000);
});
