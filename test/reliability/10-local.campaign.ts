import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeCalls } from './support/analysis.js';
import { record, rounds, SOAK_SHARE_MS, sleep } from './support/env.js';
import { broken, restartAndVerify, runFault, sigkillFault, type BackendRun } from './support/faults.js';
import { describe as describeSample, HealthWatch, isOutage, type TimedSample } from './support/health.js';
import { KeyringWatch, readKeyringState, registerKeyringSecrets, type KeyringState } from './support/keyring-watch.js';
import { KleidiNode, runCli, statusOnce } from './support/kleidi.js';
import { Load, verifyJournals } from './support/load.js';
import { MountNamespace } from './support/mount-ns.js';

/**
 * The local backend: kleidi and every `kleidi rotate` run inside a private
 * mount namespace whose state directory is a 256 KiB tmpfs, so the directory
 * can be made read-only (remount ro: EROFS, which root cannot override) or
 * full (ENOSPC) during a rotation without touching the host.
 */
describe('reliability: local backend', () => {
  let dir: string;
  let ns: MountNamespace;
  let node: KleidiNode;
  let run: BackendRun;
  let keyringWatch: KeyringWatch;
  const stateDir = () => node.spec.stateDir;
  const keyringPath = () => ns.path(join(stateDir(), 'keyring.json'));
  const keyring = (): KeyringState => readKeyringState(keyringPath());
  const rotate = (tag: string) =>
    runCli('local-rotate', ['rotate', '--state-dir', stateDir(), '--log-level', 'debug'], {}, ns.prefix).then((r) => ({
      ...r,
      tag,
    }));
  const leftovers = () => readdirSync(ns.path(stateDir())).filter((f) => f.endsWith('.lock') || f.includes('.tmp-'));
  const share = SOAK_SHARE_MS;

  beforeAll(async () => {
    dir = await mkdtemp('/tmp/kleidi-rel-local-');
    const state = join(dir, 'state');
    await mkdir(state, { mode: 0o700 });
    ns = await MountNamespace.create();
    await ns.mountTmpfs(state, 256);
    const init = await runCli('local-rotate', ['init', '--state-dir', state], {}, ns.prefix);
    expect(init.code, init.stderr).toBe(0);
    node = new KleidiNode({
      name: 'local',
      socket: join(dir, 'kms.sock'),
      stateDir: state,
      backend: 'local',
      env: {},
      prefix: ns.prefix,
    });
    await node.start();
    run = { backend: 'local', node, health: new HealthWatch(node.spec.socket), journals: [] };
    keyringWatch = new KeyringWatch(keyringPath());
  });

  afterAll(async () => {
    if (ns && node) registerKeyringSecrets(keyringPath());
    if (keyringWatch) {
      const w = await keyringWatch.stop();
      record({ kind: 'keyring-watch', backend: 'local', ...w });
    }
    await run?.health.stop();
    await node?.stop();
    ns?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('SIGKILL and restart under load: nothing lost, nothing wrong', async () => {
    const r = rounds(share / 3);
    for (let round = 0; r.more(round); round++) {
      const res = await runFault(run, sigkillFault(node), round);
      expect(broken(res), JSON.stringify(res, null, 1)).toEqual([]);
      expect(() => keyring()).not.toThrow();
    }
  });

  it('two (and three) `kleidi rotate` runs racing on one keyring under load', async () => {
    const r = rounds(share / 3);
    for (let round = 0; r.more(round); round++) {
      const load = new Load(`local-rotate-race-r${round}`, node.spec.socket, { preload: run.journals });
      await sleep(1_500);
      const t0 = Date.now();
      const races: {
        racers: number;
        before: number;
        after: number;
        exits: (number | null)[];
        ms: number[];
        messages: string[];
      }[] = [];
      for (const racers of [2, 2, 2, 3, 3]) {
        const before = keyring();
        const results = await Promise.all(Array.from({ length: racers }, (_, i) => rotate(`racer-${i}`)));
        const after = keyring();
        races.push({
          racers,
          before: before.versions.length,
          after: after.versions.length,
          exits: results.map((x) => x.code),
          ms: results.map((x) => x.ms),
          messages: results.filter((x) => x.code !== 0).map((x) => x.stderr.trim()),
        });
      }
      const final = keyring();
      const newest = `local:v${final.versions.at(-1)}:${final.ids.at(-1)}`;
      // kleidi picks the new current key up at its next refresh (10 s by default).
      const seen = await waitForKeyId(node.spec.socket, newest, 20_000);
      await sleep(1_000);
      await load.stop();
      run.journals.push(load.journal);
      const calls = analyzeCalls(load.calls(), { from: t0, to: t0, allowed: [] });
      const verify = await verifyJournals(node.spec.socket, run.journals);
      const health = healthDuring(run.health.between(t0, Date.now()));
      const successes = races.reduce((n, x) => n + x.exits.filter((c) => c === 0).length, 0);
      const rotations = races.reduce((n, x) => n + x.racers, 0);
      const invariants = {
        'every racing rotate succeeded (the lock serialises them)': successes === rotations,
        'each success added exactly one version': races.every(
          (x) => x.after - x.before === x.exits.filter((c) => c === 0).length,
        ),
        'versions ascending, ids unique (kleidi parser accepts the file)': new Set(final.ids).size === final.ids.length,
        'no lock or temp file left behind': leftovers().length === 0,
        'kleidi serves the newest key': seen,
        'no failed call during the races': calls.window.failed + calls.outside.failed === 0,
        'no lost Encrypt (all journals decrypt)': verify.lost === 0,
        'no wrong Decrypt': verify.wrong === 0 && calls.wrong === 0,
        'health stayed ok': health.outages.length === 0,
      };
      record({
        kind: 'rotate-race',
        backend: 'local',
        name: 'rotate races on one keyring',
        round,
        races,
        rotations,
        successes,
        finalVersions: final.versions.length,
        health,
        calls,
        verify,
        invariants,
      });
      expect(broken({ invariants }), JSON.stringify({ races, verify, health }, null, 1)).toEqual([]);
    }
  });

  /** A rotation that must fail on a broken state directory, leaving everything as it was. */
  async function failedRotation(
    name: string,
    round: number,
    breakDir: () => Promise<string>,
    repair: () => Promise<void>,
    cause: RegExp,
  ) {
    const load = new Load(`local-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-r${round}`, node.spec.socket, {
      preload: run.journals,
    });
    await sleep(1_500);
    const t0 = Date.now();
    const before = keyring();
    const condition = await breakDir();
    const failed = await rotate('broken');
    const during = keyring();
    const left = leftovers();
    await repair();
    const retry = await rotate('after repair');
    const after = keyring();
    const newest = `local:v${after.versions.at(-1)}:${after.ids.at(-1)}`;
    const seen = retry.code === 0 && (await waitForKeyId(node.spec.socket, newest, 20_000));
    await sleep(1_000);
    await load.stop();
    run.journals.push(load.journal);
    const calls = analyzeCalls(load.calls(), { from: t0, to: t0, allowed: [] });
    const verify = await verifyJournals(node.spec.socket, [load.journal]);
    const message = failed.stderr.trim();
    const invariants = {
      'rotate failed (non-zero exit)': failed.code !== 0 && failed.code !== null,
      'the message names the cause': cause.test(message),
      'previous keyring intact (byte-identical, parses, 0600)':
        during.sha256 === before.sha256 && during.mode === 0o600,
      'no lock or temp file left behind': left.length === 0,
      'once repaired, the next rotate succeeds at once':
        retry.code === 0 && after.versions.length === before.versions.length + 1,
      'kleidi serves the new key after the repair': seen,
      'kleidi kept serving: no failed call': calls.window.failed + calls.outside.failed === 0,
      'health stayed ok': run.health.between(t0, Date.now()).every((s) => !isOutage(s)),
      'no lost Encrypt': verify.lost === 0,
      'no wrong Decrypt': verify.wrong === 0 && calls.wrong === 0,
    };
    record({
      kind: 'rotate-fault',
      backend: 'local',
      name,
      round,
      condition,
      exit: failed.code,
      message,
      leftovers: left,
      retryExit: retry.code,
      retryMessage: retry.stderr.trim(),
      calls,
      verify,
      invariants,
    });
    expect(broken({ invariants }), JSON.stringify({ message, left, retry: retry.stderr }, null, 1)).toEqual([]);
  }

  it('`kleidi rotate` with the state directory read-only: fails clearly, keyring intact', async () => {
    const r = rounds(share / 6);
    for (let round = 0; r.more(round); round++) {
      await failedRotation(
        'rotate, state directory read-only',
        round,
        async () => {
          await ns.remount(stateDir(), 'ro');
          return 'tmpfs remounted read-only (EROFS)';
        },
        () => ns.remount(stateDir(), 'rw'),
        /EROFS|read-only/i,
      );
    }
  });

  it('`kleidi rotate` with the state directory full: fails clearly, keyring intact', async () => {
    const r = rounds(share / 6);
    for (let round = 0; r.more(round); round++) {
      // No free page: even the lock file's content cannot be written.
      await failedRotation(
        'rotate, state directory full (no free block)',
        round,
        async () => `tmpfs filled with ${await ns.fill(stateDir(), 0)} pages of 4 KiB, none free (ENOSPC)`,
        () => ns.unfill(stateDir()),
        /ENOSPC|no space/i,
      );
      // One free page: the lock fits, the new keyring does not.
      await failedRotation(
        'rotate, state directory full (one free block)',
        round,
        async () =>
          `tmpfs filled, one 4 KiB page left (${await ns.fill(stateDir(), 1)} filler pages): the lock fits, the keyring does not`,
        () => ns.unfill(stateDir()),
        /ENOSPC|no space/i,
      );
    }
  });

  it('after a restart, every Encrypt that returned OK decrypts to its original', async () => {
    const { invariants, verify } = await restartAndVerify(run);
    const k = keyring();
    invariants['keyring parses and is 0600'] = k.mode === 0o600;
    expect(broken({ invariants }), JSON.stringify(verify)).toEqual([]);
  });
});

/** What Status said during a test: the answers that were not "ok", and how long the slowest took. */
function healthDuring(samples: readonly TimedSample[]): {
  samples: number;
  maxStatusMs: number;
  outages: { t: string; ms: number; report: string }[];
} {
  return {
    samples: samples.length,
    maxStatusMs: Math.max(0, ...samples.map((x) => x.ms)),
    outages: samples
      .filter(isOutage)
      .slice(0, 5)
      .map((x) => ({ t: new Date(x.t).toISOString(), ms: x.ms, report: describeSample(x) })),
  };
}

/** Polls Status until it reports `keyId`. */
async function waitForKeyId(socket: string, keyId: string, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await statusOnce(socket, 1_000)).keyId === keyId) return true;
    await sleep(250);
  }
  return false;
}
