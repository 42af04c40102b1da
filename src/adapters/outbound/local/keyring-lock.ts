import { constants, readlinkSync } from 'node:fs';
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { BackendUnavailableError } from '../../../domain/model/errors.js';
import { errnoText, isErrno } from '../shared/errno.js';

const WAIT_MS = 10_000;
/**
 * A lock whose holder cannot be checked (another host or pid namespace, or
 * no holder written) counts as left behind once its file is this old: a
 * rotate holds the lock for milliseconds.
 */
const STALE_MS = 60_000;
const POLL_MS = 25;

export interface KeyringLockOptions {
  /** How long to wait for another holder before failing; 10 s unless a test says otherwise. */
  readonly waitMs?: number;
}

/**
 * Serialises keyring changes between processes (two `kleidi rotate` runs, or
 * rotate racing with a first start) with an O_EXCL lock file next to it. The
 * lock names its holder (pid, host, pid namespace), so a lock left by a
 * process that died is taken over at once when the holder is provably gone,
 * and a live holder's lock is never taken, whatever its age. The wait is
 * measured on the monotonic clock (performance.now()): a wall-clock step
 * neither stretches it nor cuts it short.
 */
export async function withKeyringLock<T>(
  keyringPath: string,
  work: () => Promise<T>,
  opts: KeyringLockOptions = {},
): Promise<T> {
  const lock = `${keyringPath}.lock`;
  // Calls in this process queue here first, so a lock file naming this pid is
  // never one that another call of ours still holds (removeIfStale relies on it).
  const before = queued.get(lock) ?? Promise.resolve();
  let release = (): void => undefined;
  const turn = new Promise<void>((r) => {
    release = r;
  });
  const tail = before.then(() => turn);
  queued.set(lock, tail);
  await before;
  try {
    return await withLockFile(lock, work, opts);
  } finally {
    release();
    if (queued.get(lock) === tail) queued.delete(lock);
  }
}

/** The last in-process caller queued for each lock file; each waits for the one before it. */
const queued = new Map<string, Promise<void>>();

async function withLockFile<T>(lock: string, work: () => Promise<T>, opts: KeyringLockOptions): Promise<T> {
  await mkdir(dirname(lock), { recursive: true, mode: 0o700 }).catch(() => undefined);
  const deadline = performance.now() + (opts.waitMs ?? WAIT_MS);
  for (;;) {
    try {
      const fh = await open(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      await writeHolder(lock, fh);
      break;
    } catch (err) {
      if (err instanceof BackendUnavailableError) throw err;
      if (!isErrno(err, 'EEXIST')) {
        throw new BackendUnavailableError(`cannot lock the keyring (${lock}): ${errnoText(err)}`, { cause: err });
      }
      const holder = await readHolder(lock);
      if (holder && (await removeIfStale(lock, holder))) continue;
      if (performance.now() > deadline) {
        throw new BackendUnavailableError(`keyring is locked by another process (${lock}${describe(holder)})`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
  try {
    return await work();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

/** Who wrote a lock file: parsed from its content, plus the file's age on the wall clock. */
interface Holder {
  readonly pid?: number;
  readonly host?: string;
  readonly pidNamespace?: string;
  readonly ageMs: number;
}

/** The lock's content: `<pid> <host> <pid namespace>` (the last two may be empty). */
const OWN_IDENTITY = `${process.pid} ${hostname()} ${pidNamespace()}`;

/** The pid namespace's identity, e.g. `pid:[4026531836]`; '' where /proc does not say. */
function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}

async function readHolder(lock: string): Promise<Holder | undefined> {
  try {
    // Never through a link, and only the few bytes a holder writes: the lock names a process, nothing more.
    const fh = await open(lock, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    let text: string;
    let st: Awaited<ReturnType<FileHandle['stat']>>;
    try {
      st = await fh.stat();
      const buf = Buffer.alloc(256);
      const { bytesRead } = st.isFile() ? await fh.read(buf, 0, buf.length, 0) : { bytesRead: 0 };
      text = buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
    const [pid, host, ns] = text.trim().split(' ');
    const n = Number(pid);
    return {
      ...(Number.isSafeInteger(n) && n > 0 ? { pid: n } : {}),
      ...(host ? { host } : {}),
      ...(ns ? { pidNamespace: ns } : {}),
      // The file's timestamp was written by another process: only the wall clock can compare with it.
      ageMs: Date.now() - st.mtimeMs,
    };
  } catch {
    return undefined; // gone meanwhile (or unreadable): the next attempt tells
  }
}

/**
 * Removes a lock whose holder is gone: at once when the holder ran on this
 * host in this pid namespace and no longer exists; after STALE_MS when it
 * cannot be checked from here. Never when the holder is alive.
 */
async function removeIfStale(lock: string, h: Holder): Promise<boolean> {
  const [, host, ns] = OWN_IDENTITY.split(' ');
  const checkable = h.pid !== undefined && ns !== '' && h.host === host && h.pidNamespace === ns;
  // Our own pid in a lock no call of ours holds (they queue in withKeyringLock): a process before us had it, and is gone.
  const stale = checkable ? h.pid === process.pid || !alive(h.pid as number) : h.ageMs > STALE_MS;
  if (stale) await unlink(lock).catch(() => undefined);
  return stale;
}

/** Signal 0 checks existence only (kill(2)); EPERM means it exists under another user. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, 'ESRCH');
  }
}

function describe(h: Holder | undefined): string {
  if (!h?.pid) return '';
  return `, held by pid ${h.pid}${h.host ? ` on ${h.host}` : ''}`;
}

/**
 * Writes who holds the lock we just created. If that fails (a full disk:
 * creating the empty file needs no data block, its content does), the lock is
 * removed again: left behind, it would block every rotation, and kleidi's own
 * start, until it counts as stale.
 */
async function writeHolder(lock: string, fh: FileHandle): Promise<void> {
  try {
    await fh.writeFile(OWN_IDENTITY);
    await fh.close();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(lock).catch(() => undefined);
    throw new BackendUnavailableError(`cannot lock the keyring (${lock}): ${errnoText(err)}`, { cause: err });
  }
}
