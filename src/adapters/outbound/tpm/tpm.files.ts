import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { errnoText } from '../shared/errno.js';
import { fileStamp } from '../shared/file-stamp.js';
import { readSecretFile } from '../shared/secret-file.js';
import { syncDirectory } from '../shared/sync-dir.js';

/**
 * Reads one of the TPM backend's JSON files with the secret-file policy
 * (regular file, owner only, owned by kleidi's user): the ring file holds
 * KEKs; a node key file holds only TPM-protected blobs, but whoever can
 * replace it chooses which blobs kleidi unseals, so it is trusted the same
 * way. Undefined when the file does not exist.
 */
export async function readJsonFile(path: string, what: string): Promise<{ value: unknown; stamp: string } | undefined> {
  const f = await readSecretFile(path, { what, optional: true, maxBytes: 1 << 20 });
  if (!f) return undefined;
  try {
    return { value: JSON.parse(f.text) as unknown, stamp: f.stamp };
  } catch {
    throw new BackendMisconfiguredError(`${what} ${path} is not valid JSON`);
  }
}

/** Replaces `path` atomically (temp file, fsync, rename, fsync of the directory), mode 0600. */
export async function writeJsonFile(path: string, value: unknown, what: string): Promise<void> {
  const dir = dirname(path);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(value, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await syncDirectory(dir);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new BackendMisconfiguredError(`cannot write the ${what} ${path}: ${errnoText(err)}`);
  }
}

export function stampOfFile(path: string): Promise<string | undefined> {
  return fileStamp(path, { followLinks: false });
}

/**
 * Writes a new file that must not exist yet (a backup): O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, so
 * neither a planted link nor an existing file is ever written through; synced with its directory.
 */
export async function writeNewJsonFile(path: string, value: unknown, what: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    await fh.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await syncDirectory(dirname(path));
  } catch (err) {
    if (fh) {
      await fh.close();
      await unlink(path).catch(() => undefined);
    }
    throw new BackendMisconfiguredError(`cannot write the ${what} ${path}: ${errnoText(err)}`);
  }
}
