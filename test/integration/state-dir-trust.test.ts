import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KmsTestClient } from '../support/grpc-client.js';
import { runKleidi, startKleidi, tempDir } from '../support/kleidi-process.js';
import { letOtherUsersReach } from '../support/other-user.js';

const KLEIDI_MAIN = resolve(import.meta.dirname, '../../dist/main.js');
const NODE_MODULES = resolve(import.meta.dirname, '../../node_modules');
/** Node reads it to learn that dist/main.js is an ES module ("type": "module"). */
const PACKAGE_JSON = resolve(import.meta.dirname, '../../package.json');
/** The image's user (deploy/Dockerfile) and the conventional "nobody": two users that are not root. */
const SERVICE = 65532;
const OTHER = 65534;

/** These tests need a second local user: without root they must fail, never skip. */
function requireRoot(): void {
  if (process.geteuid?.() !== 0) {
    throw new Error('this test creates files owned by and runs processes as uid 65532/65534: run it as root');
  }
}

// uids 65532 and 65534 run the checkout's node, dist/ and the libraries it imports here,
// wherever the checkout sits and whatever umask made it.
let restoreModes: (() => void) | undefined;
beforeAll(() => {
  requireRoot();
  restoreModes = letOtherUsersReach(process.execPath, dirname(KLEIDI_MAIN), NODE_MODULES, PACKAGE_JSON);
});
afterAll(() => restoreModes?.());

/** A keyring document as another party would write it (format 1, one 256-bit key). */
function foreignKeyring(id: string): string {
  const key = { version: 1, id, createdAt: new Date().toISOString(), material: Buffer.alloc(32, 7).toString('base64') };
  return `${JSON.stringify({ kind: 'kleidi-keyring', format: 1, keys: [key] })}\n`;
}

/** Runs a small Node script as `uid` (a real second user doing what it may). */
function runAs(uid: number, script: string): void {
  const r = spawnSync(process.execPath, ['-e', script], { uid, gid: uid, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`script as uid ${uid} failed (${r.status}): ${r.stderr}`);
}

/**
 * The exit code of a `serve` expected to refuse to start. One still running
 * after 10 s (the unfixed behaviour: it started) is stopped, so no test
 * leaves a process behind.
 */
async function exitOf(r: ReturnType<typeof runKleidi>): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const running = new Promise<'still running'>((res) => {
    timer = setTimeout(() => res('still running'), 10_000);
  });
  const code = await Promise.race([r.exited, running]);
  clearTimeout(timer);
  if (code === 'still running') {
    r.proc.kill('SIGTERM');
    await r.exited;
  }
  return code;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('kleidi trusts only a keyring and state directory that belong to its own user', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    requireRoot();
    tmp = await tempDir('kleidi-trust-');
    chmodSync(tmp.dir, 0o755); // let the second users reach their directories below it
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it('ignores a keyring that another user swaps in through a group/other-writable state directory', async () => {
    const k = await startKleidi(tmp.dir);
    const client = new KmsTestClient(k.socket);
    try {
      const before = await client.status();
      expect(before.healthz).toBe('ok');
      // The operator's mistake: the state directory becomes writable by everyone.
      chmodSync(k.stateDir, 0o777);
      const keyring = join(k.stateDir, 'keyring.json');
      // The other user writes its own keyring (0600, owned by it) and renames it over kleidi's.
      runAs(
        OTHER,
        `const fs = require('node:fs');
         fs.writeFileSync(${JSON.stringify(`${keyring}.x`)}, ${JSON.stringify(foreignKeyring('00000000000000aa'))}, { mode: 0o600 });
         fs.renameSync(${JSON.stringify(`${keyring}.x`)}, ${JSON.stringify(keyring)});`,
      );
      expect(statSync(keyring).uid).toBe(OTHER);
      // kleidi notices the change; it must keep its own key and report why it cannot load the new file.
      const after = await waitFor('Status to report the refused keyring', async () => {
        const s = await client.status();
        return s.healthz !== 'ok' ? s : undefined;
      });
      expect(after.keyId).toBe(before.keyId);
      expect(after.keyId).not.toContain('00000000000000aa');
      expect((await client.encrypt(Buffer.from('seed'))).keyId).toBe(before.keyId);
      expect(k.output()).toMatch(/directory .* has mode 0777|owned by uid 65534/);
    } finally {
      client.close();
      await k.stop();
    }
  });

  it('refuses to start with a keyring owned by another user, naming it, and leaves it untouched', async () => {
    const stateDir = join(tmp.dir, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    const keyring = join(stateDir, 'keyring.json');
    writeFileSync(keyring, foreignKeyring('00000000000000bb'), { mode: 0o600 });
    chownSync(keyring, OTHER, OTHER);
    const r = runKleidi(['serve', '--socket', join(tmp.dir, 'kms.sock'), '--state-dir', stateDir]);
    expect(await exitOf(r)).toBe(1);
    expect(r.output()).toContain(`keyring file ${keyring} is owned by uid ${OTHER}`);
    expect(statSync(keyring).uid).toBe(OTHER);
  });

  it.each([
    ['writable by group', 0o770, 0],
    ['writable by others', 0o703, 0],
    ['owned by another user', 0o700, OTHER],
  ])('refuses to start with a state directory %s, before creating anything in it', async (_, mode, owner) => {
    const stateDir = join(tmp.dir, 'state');
    mkdirSync(stateDir);
    chmodSync(stateDir, mode);
    chownSync(stateDir, owner, owner);
    const r = runKleidi(['serve', '--socket', join(tmp.dir, 'kms.sock'), '--state-dir', stateDir]);
    expect(await exitOf(r)).toBe(1);
    expect(r.output()).toMatch(owner ? /directory .* is owned by uid 65534/ : /directory .* has mode 07[07]/);
    expect(existsSync(join(stateDir, 'keyring.json'))).toBe(false);
    expect(existsSync(join(stateDir, '.keyring-created'))).toBe(false);
  });

  it('`kleidi rotate` run as root keeps the keyring readable by a kleidi running as uid 65532', async () => {
    const run = join(tmp.dir, 'run');
    const stateDir = join(tmp.dir, 'state');
    for (const d of [run, stateDir]) {
      mkdirSync(d, { mode: 0o700 });
      chownSync(d, SERVICE, SERVICE);
    }
    const socket = join(run, 'kms.sock');
    const serveAsService = () => {
      const proc = spawn(
        process.execPath,
        [KLEIDI_MAIN, 'serve', '--socket', socket, '--state-dir', stateDir, '--refresh-interval', '200ms'],
        { uid: SERVICE, gid: SERVICE, env: { ...process.env, KLEIDI_HTTP_ADDRESS: '127.0.0.1:0' }, stdio: 'pipe' },
      );
      let out = '';
      proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
      return { proc, exited, output: () => out };
    };
    let service = serveAsService();
    const client = new KmsTestClient(socket);
    try {
      const first = await waitFor('the service to answer Status', () => client.status());
      const keyring = join(stateDir, 'keyring.json');
      expect(statSync(keyring)).toMatchObject({ uid: SERVICE, gid: SERVICE });

      // The runbook's step, as root on the node.
      const rotate = runKleidi(['rotate', '--state-dir', stateDir]);
      expect(await rotate.exited, rotate.output()).toBe(0);
      expect(statSync(keyring)).toMatchObject({ uid: SERVICE, gid: SERVICE, mode: 0o100600 });

      // The running service picks the new key up and stays healthy.
      const rotated = await waitFor(
        'the service to report the rotated key',
        async () => {
          const s = await client.status();
          return s.keyId !== first.keyId ? s : undefined;
        },
        10_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${service.output()}`);
      });
      expect(rotated.healthz).toBe('ok');
      expect(rotated.keyId).toMatch(/^local:v2:/);

      // ... and a restart of the service still starts on the rotated keyring.
      service.proc.kill('SIGTERM');
      expect(await service.exited).toBe(0);
      service = serveAsService();
      const restarted = await waitFor('the restarted service to answer Status', () => client.status());
      expect(restarted.keyId).toBe(rotated.keyId);
    } finally {
      client.close();
      service.proc.kill('SIGTERM');
      await service.exited;
    }
  });

  it('`kleidi rotate` as root refuses a keyring that does not belong to its state directory, naming the user', async () => {
    const stateDir = join(tmp.dir, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    chownSync(stateDir, SERVICE, SERVICE);
    const keyring = join(stateDir, 'keyring.json');
    writeFileSync(keyring, foreignKeyring('00000000000000cc'), { mode: 0o600 });
    chownSync(keyring, OTHER, OTHER);
    const before = readFileSync(keyring);
    const rotate = runKleidi(['rotate', '--state-dir', stateDir]);
    expect(await rotate.exited).toBe(1);
    expect(rotate.output()).toContain(`keyring file ${keyring} is owned by uid ${OTHER}`);
    expect(rotate.output()).toContain(`uid ${SERVICE}`);
    expect(readFileSync(keyring)).toEqual(before);
  });
});

describe('the `.keyring-created` marker is never written through a link', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    tmp = await tempDir('kleidi-marker-');
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it('first start with a link planted at the marker: the target is not created', async () => {
    const stateDir = join(tmp.dir, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    const victim = join(tmp.dir, 'victim');
    symlinkSync(victim, join(stateDir, '.keyring-created'));
    const r = runKleidi(['serve', '--socket', join(tmp.dir, 'kms.sock'), '--state-dir', stateDir]);
    const code = await exitOf(r);
    expect(existsSync(victim), 'the link target').toBe(false);
    expect(code).toBe(1);
    expect(r.output()).toContain(`${join(stateDir, '.keyring-created')} is not a regular file`);
  });

  it('`kleidi init` as root with a link planted at the marker: an existing target is not truncated', async () => {
    const stateDir = join(tmp.dir, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    const victim = join(tmp.dir, 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(stateDir, '.keyring-created'));
    const r = runKleidi(['init', '--state-dir', stateDir]);
    await r.exited;
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(join(stateDir, '.keyring-created')).isSymbolicLink()).toBe(true);
    expect(r.output()).toContain('is not a regular file');
  });
});
