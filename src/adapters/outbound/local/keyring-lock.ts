import { constants } from 'node:fs';
import { mkdir, open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BackendUnavailableError } from '../../../domain/model/errors.js';
import { codeOf, isCode } from './keyring-file.js';

const WAIT_MS = 10_000;
const STALE_MS = 60_000; // a rotate holds the lock for milliseconds; older means its process died
const POLL_MS = 25;

/**
 * Serialises keyring changes between processes (two `kleidi rotate` runs, or
 * rotate racing with a first start) with an O_EXCL lock file next to it.
 */
export async function withKeyringLock<T>(keyringPath: string, work: () => Promise<T>): Promise<T> {
  const lock = `${keyringPath}.lock`;
  await mkdir(dirname(lock), { recursive: true, mode: 0o700 }).catch(() => undefined);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      const fh = await open(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      await writePid(lock, fh);
      break;
    } catch (err) {
      if (err instanceof BackendUnavailableError) throw err;
      if (!isCode(err, 'EEXIST')) {
        throw new BackendUnavailableError(`cannot lock the keyring (${lock}): ${codeOf(err)}`, { cause: err });
      }
      await removeIfStale(lock);
      if (Date.now() > deadline) {
        throw new BackendUnavailableError(`keyring is locked by another process (${lock})`);
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

async function removeIfStale(lock: string): Promise<void> {
  const st = await stat(lock).catch(() => undefined);
  if (st && Date.now() - st.mtimeMs > STALE_MS) await unlink(lock).catch(() => undefined);
}

/**
 * Writes our pid into the lock we just created. If that fails (a full disk:
 * creating the empty file needs no data block, its content does), the lock is
 * removed again: left behind, it would block every rotation, and kleidi's own
 * start, until it counts as stale.
 */
async function writePid(lock: string, fh: FileHandle): Promise<void> {
  try {
    await fh.writeFile(String(process.pid));
    await fh.close();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(lock).catch(() => undefined);
    throw new BackendUnavailableError(`cannot lock the keyring (${lock}): ${codeOf(err)}`, { cause: err });
  }
}
