import { spawn } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withKeyringLock } from '#src/adapters/outbound/local/keyring-lock.js';
import { LocalKeyAdmin } from '#src/adapters/outbound/local/local.key-admin.js';
import { BackendUnavailableError } from '#src/domain/model/errors.js';
import { aSignal, recordingLogger } from '../../../../support/builders.js';

// Lets a test make the lock file's content write fail, as on a full disk: creating
// the (empty) file needs no data block, writing the pid into it does.
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return { ...real, open: vi.fn(real.open) };
});
const realOpen = (await vi.importActual<typeof import('node:fs/promises')>('node:fs/promises')).open;

function failLockWriteOnce(code: string): void {
  vi.mocked(fsp.open).mockImplementationOnce(async (...args: Parameters<typeof realOpen>) => {
    const fh = await realOpen(...args);
    return {
      writeFile: () => Promise.reject(Object.assign(new Error(`${code}: write failed`), { code })),
      close: () => fh.close(),
    } as unknown as fsp.FileHandle;
  });
}

describe('withKeyringLock on a full disk (reliability campaign: rotate with the state directory full)', () => {
  let dir: string;
  let keyring: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-lock-'));
    keyring = join(dir, 'keyring.json');
  });
  afterEach(async () => {
    vi.mocked(fsp.open).mockReset();
    vi.mocked(fsp.open).mockImplementation(realOpen);
    await rm(dir, { recursive: true, force: true });
  });

  it('fails with the cause and leaves no lock file behind when the pid cannot be written', async () => {
    failLockWriteOnce('ENOSPC');
    const work = vi.fn(async () => 'done');
    const err = await withKeyringLock(keyring, work).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(/cannot lock the keyring .*ENOSPC/);
    expect(work).not.toHaveBeenCalled();
    expect(existsSync(`${keyring}.lock`)).toBe(false);
  });

  it('so the next rotation, once space is back, takes the lock at once (not after the 60 s stale-lock wait)', async () => {
    failLockWriteOnce('ENOSPC');
    await withKeyringLock(keyring, async () => 'x').catch(() => undefined);
    const started = Date.now();
    await expect(withKeyringLock(keyring, async () => 'second')).resolves.toBe('second');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('withKeyringLock: who holds the lock, and for how long it waits', () => {
  let dir: string;
  let keyring: string;
  let lock: string;
  const identity = (pid: number) => `${pid} ${hostname()} ${readlinkSync('/proc/self/ns/pid')}`;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-lock-'));
    keyring = join(dir, 'keyring.json');
    lock = `${keyring}.lock`;
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  /** Settles with the lock's outcome, or says it was still waiting after `ms` of real time. */
  function within<T>(p: Promise<T>, ms: number): Promise<T | 'still waiting'> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'still waiting'>((r) => (timer = setTimeout(() => r('still waiting'), ms)));
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }

  it('gives up after its wait even when the wall clock steps back an hour meanwhile', async () => {
    // The parent of this test process is alive: its lock is never taken over.
    await writeFile(lock, identity(process.ppid), { mode: 0o600 });
    const real = Date.now.bind(Date);
    let calls = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => (calls++ === 0 ? real() : real() - 3_600_000));
    const work = vi.fn(async () => 'done');
    const outcome = await within(
      withKeyringLock(keyring, work, { waitMs: 300 }).catch((e: unknown) => e),
      5_000,
    );
    expect(outcome).toBeInstanceOf(BackendUnavailableError);
    expect((outcome as Error).message).toMatch(new RegExp(`locked by another process .*held by pid ${process.ppid}`));
    expect(work).not.toHaveBeenCalled();
  }, 15_000);

  it('never takes over a live holder’s lock, even when a wall-clock step makes the file look hours old', async () => {
    await writeFile(lock, identity(process.ppid), { mode: 0o600 });
    const real = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => real() + 2 * 3_600_000);
    const work = vi.fn(async () => 'done');
    const outcome = await within(
      withKeyringLock(keyring, work, { waitMs: 300 }).catch((e: unknown) => e),
      12_000,
    );
    expect(outcome).toBeInstanceOf(BackendUnavailableError);
    expect(work).not.toHaveBeenCalled();
    expect(await readFile(lock, 'utf8')).toBe(identity(process.ppid));
  }, 15_000);

  it('takes over at once a lock whose holder died (not after the 60 s stale-lock age)', async () => {
    const child = spawn(process.execPath, ['-e', '0']);
    const pid = child.pid as number;
    await new Promise((r) => child.once('exit', r));
    await writeFile(lock, identity(pid), { mode: 0o600 });
    const started = performance.now();
    const outcome = await within(
      withKeyringLock(keyring, async () => 'done'),
      5_000,
    );
    expect(outcome).toBe('done');
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(existsSync(lock)).toBe(false);
  }, 15_000);

  it('names itself in the lock while it holds it', async () => {
    const seen = await withKeyringLock(keyring, () => readFile(lock, 'utf8'));
    expect(seen).toBe(identity(process.pid));
  });
});

describe('the lock in a state directory kleidi will refuse', () => {
  it('refuses the directory before making or reading a lock in it, even with a link planted at the lock path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kleidi-lockdir-'));
    try {
      const keyring = join(dir, 'keyring.json');
      const victim = join(dir, 'elsewhere');
      await writeFile(victim, '1 somewhere pid:[1]\n');
      await symlink(victim, `${keyring}.lock`);
      await chmod(dir, 0o777);
      const admin = new LocalKeyAdmin(keyring, recordingLogger());
      await expect(admin.rotate(aSignal())).rejects.toThrow(/must not be writable by group or others/);
      await expect(admin.init(aSignal())).rejects.toThrow(/must not be writable by group or others/);
      expect(await readFile(victim, 'utf8')).toBe('1 somewhere pid:[1]\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
