import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { errnoText, isErrno } from '../shared/errno.js';
import { giveTo, type KeyringOwner } from './keyring-file.js';

/**
 * A marker next to the keyring records that this state directory once held
 * one. `serve` creates a keyring on first start only; when the marker exists
 * but the keyring does not, the keyring was lost, and silently creating a new
 * one would make every object written before unreadable (and give this node
 * keys no other control-plane node has, kubernetes#66844).
 */
export function markerPath(keyringPath: string): string {
  return join(dirname(keyringPath), '.keyring-created');
}

/**
 * Whether the marker exists. SECURITY: the entry itself is examined, never
 * followed: anything but a regular file there is not kleidi's and is
 * refused, so neither a first start nor `init` goes on in a directory
 * someone has planted a link in.
 */
export async function hasMarker(keyringPath: string): Promise<boolean> {
  const path = markerPath(keyringPath);
  try {
    const st = await lstat(path);
    if (!st.isFile()) throw notRegular(path);
    return true;
  } catch (err) {
    // No marker: nothing there, or a path component is not a directory (the keyring write reports that).
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
    if (err instanceof BackendMisconfiguredError) throw err;
    throw new BackendMisconfiguredError(`cannot read ${path}: ${errnoText(err)}`, { cause: err });
  }
}

/**
 * Creates the marker, given to the keyring's owner. SECURITY: O_CREAT|O_EXCL
 * never follows a link and never opens an existing file (open(2)), so a link
 * planted at the path cannot make kleidi create or truncate its target (run
 * as root, any file on the node); O_NOFOLLOW says the same for the reader.
 * An existing regular marker is kept as it is.
 */
export async function writeMarker(keyringPath: string, owner: KeyringOwner): Promise<void> {
  const path = markerPath(keyringPath);
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if (isErrno(err, 'EEXIST') && (await hasMarker(keyringPath))) return;
    throw new BackendMisconfiguredError(`cannot create ${path}: ${errnoText(err)}`, { cause: err });
  }
  try {
    await giveTo(fh, owner, owner.gid, path);
    await fh.writeFile(`keyring created ${new Date().toISOString()}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function notRegular(path: string): BackendMisconfiguredError {
  return new BackendMisconfiguredError(
    `${path} is not a regular file (kleidi only ever creates one there); find out who put it there, then remove it`,
  );
}
