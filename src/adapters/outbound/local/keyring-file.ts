import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BackendMisconfiguredError, BackendUnavailableError } from '../../../domain/model/errors.js';
import { errnoText, isErrno } from '../shared/errno.js';
import { fileStamp } from '../shared/file-stamp.js';
import { readSecretFile } from '../shared/secret-file.js';
import { parseKeyringJson, serializeKeyring, type Keyring } from './keyring-format.js';
import { syncDirectory } from '../shared/sync-dir.js';

/**
 * Who works on the keyring. `service`: `kleidi serve`, whose keyring and
 * directory must belong to the user it runs as. `operator`: `kleidi init |
 * rotate | keys`; the same, except when run as root (the rotation runbook's
 * "on the node"), which acts for the directory's owner, the user the service
 * runs as: it accepts that user's keyring and gives what it writes to that
 * user, so a non-root service can still read it.
 */
export type KeyringActor = 'service' | 'operator';

/** Who the keyring must belong to, and the group a new one gets. */
export interface KeyringOwner {
  readonly uid: number;
  readonly gid: number;
  /** For messages: "the user kleidi runs as", "the owner of /var/lib/kleidi". */
  readonly who: string;
}

/**
 * Checks the keyring's directory and says who the keyring belongs to, or
 * undefined when the directory does not exist yet. SECURITY: whoever may
 * write the directory may replace the keyring (and choose the KEK), so it must
 * not be writable by group or others, and must belong to the keyring's owner
 * or root. A directory that fails is refused, never "fixed": an operator has
 * to find out how it got that way. A link to the directory is followed (an
 * operator may move the state elsewhere); the link itself lives in a
 * directory only its owner can change.
 */
export async function keyringOwner(path: string, actor: KeyringActor): Promise<KeyringOwner | undefined> {
  const dir = dirname(path);
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new BackendMisconfiguredError(`cannot read the keyring directory ${dir}: ${errnoText(err)}`, { cause: err });
  }
  if (!st.isDirectory()) throw new BackendMisconfiguredError(`keyring directory ${dir} is not a directory`);
  if ((st.mode & 0o022) !== 0) {
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    throw new BackendMisconfiguredError(
      `keyring directory ${dir} has mode ${mode}; it must not be writable by group or others (run: chmod go-w ${dir})`,
    );
  }
  const euid = process.geteuid?.();
  const egid = process.getegid?.();
  // Platforms without uids (process.geteuid is POSIX-only) have no owner to check.
  if (euid === undefined || egid === undefined) return { uid: st.uid, gid: st.gid, who: 'the owner' };
  if (actor === 'operator' && euid === 0) return { uid: st.uid, gid: st.gid, who: `the owner of ${dir}` };
  if (st.uid !== euid && st.uid !== 0) {
    throw new BackendMisconfiguredError(
      `keyring directory ${dir} is owned by uid ${st.uid}, not by uid ${euid} (the user kleidi runs as) or root ` +
        `(run kleidi as uid ${st.uid}, or: chown ${euid} ${dir})`,
    );
  }
  return { uid: euid, gid: egid, who: 'the user kleidi runs as' };
}

/** A keyring as read: its content, the stamp of the file read, and its group (kept by a rewrite). */
export interface ReadKeyring {
  readonly keyring: Keyring;
  readonly stamp: string;
  readonly gid: number;
}

/**
 * Reads the keyring file, or undefined when there is none yet. SECURITY: the
 * file holds KEKs in the clear, so it must be a regular 0600 file (owner
 * only), owned by the keyring's owner (keyringOwner), in a directory only
 * that owner can change; readSecretFile refuses anything else rather than
 * "fixing" it, because the key may already be exposed or chosen by someone
 * else, and an operator has to decide. A symbolic link is refused too.
 */
export async function readKeyring(path: string, actor: KeyringActor = 'service'): Promise<ReadKeyring | undefined> {
  const owner = await keyringOwner(path, actor);
  if (owner === undefined) return undefined;
  const file = await readSecretFile(path, { what: 'keyring file', optional: true, owner });
  return file && { keyring: parseKeyringJson(file.text, path), stamp: file.stamp, gid: file.gid };
}

/** The keyring's stamp (of the link itself if it is one: the keyring must be a regular file), or undefined when missing. */
export function statStamp(path: string): Promise<string | undefined> {
  return fileStamp(path, { followLinks: false });
}

/**
 * Atomic replace: temp file in the same directory (0600), given the owner
 * and group of the file it replaces (a new one: the keyring's owner and the
 * directory's group), fsync, rename, fsync the directory. The owner is set on
 * the temp file's descriptor before the rename, so no other owner is ever
 * seen at the path: run as root for a non-root service, a rotation would
 * otherwise leave a keyring the service cannot read.
 */
export async function writeKeyring(
  path: string,
  keyring: Keyring,
  opts: { readonly actor: KeyringActor; readonly replacing?: ReadKeyring },
): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
    throw unwritable(dir, err);
  });
  const owner = await keyringOwner(path, opts.actor);
  if (owner === undefined) throw new BackendMisconfiguredError(`cannot write the keyring in ${dir}: ENOENT`);
  const gid = opts.replacing?.gid ?? owner.gid;
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await giveTo(fh, owner, gid, path);
      await fh.writeFile(serializeKeyring(keyring));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    if (err instanceof BackendMisconfiguredError) throw err;
    throw unwritable(dir, err);
  }
  await syncDirectory(dir);
}

/**
 * Gives a file kleidi just created (by its descriptor, so no link is
 * followed) to the keyring's owner and `gid`. A user that may not do that
 * (only root may give a file away, chown(2)) is told which user to run as.
 */
export async function giveTo(
  fh: Awaited<ReturnType<typeof open>>,
  owner: KeyringOwner,
  gid: number,
  path: string,
): Promise<void> {
  const st = await fh.stat();
  if (st.uid === owner.uid && st.gid === gid) return;
  try {
    await fh.chown(owner.uid, gid);
  } catch (err) {
    throw new BackendMisconfiguredError(
      `cannot give ${path} owner uid ${owner.uid} and group gid ${gid} (${owner.who}): ${errnoText(err)}; ` +
        `run this command as uid ${owner.uid}, or as root`,
      { cause: err },
    );
  }
}

function unwritable(dir: string, err: unknown): BackendMisconfiguredError | BackendUnavailableError {
  const code = errnoText(err);
  const msg = `cannot write the keyring in ${dir}: ${code}`;
  // A full disk may clear by itself; a permission problem needs an operator.
  return code === 'ENOSPC'
    ? new BackendUnavailableError(msg, { cause: err })
    : new BackendMisconfiguredError(msg, { cause: err });
}
