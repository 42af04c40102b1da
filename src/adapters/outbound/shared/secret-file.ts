import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { errnoText, isErrno } from './errno.js';
import { stampOf } from './file-stamp.js';

export interface SecretFileOptions {
  /** What the file is, for messages: "keyring file", "PIN file", "Vault token file". */
  readonly what: string;
  /**
   * Follow a symbolic link to the file. Off by default: a secret kleidi owns
   * is a regular file, and a link could point it at a file it should not
   * read. Files from a Kubernetes Secret volume are links by design (the
   * kubelet swaps the `..data` link on an update), so their readers turn it on.
   */
  readonly followLinks?: boolean;
  /** A larger file is refused unread: a wrong path must not be read whole. */
  readonly maxBytes?: number;
  /**
   * The uid that must own the file, and who that is, for messages. By
   * default the effective uid: kleidi's secrets belong to the user it runs
   * as. An operator command run as root on behalf of the service's user
   * passes that user instead.
   */
  readonly owner?: { readonly uid: number; readonly who: string };
}

export interface SecretFile {
  readonly text: string;
  /** stampOf() the file that was read (the descriptor's), to notice a change later. */
  readonly stamp: string;
  /** The group of the file that was read, for a writer that replaces it and keeps its owner and group. */
  readonly gid: number;
}

/**
 * Reads a file holding a secret (key material, a PIN, a token), with one
 * policy for every backend. SECURITY: the file must be a regular file that
 * neither its group nor others may access in any way (the rule ssh applies
 * to private keys); a broader mode means the secret may already have leaked,
 * so the file is refused, never "fixed", and an operator decides. It must
 * also belong to the user kleidi runs as (the effective uid): a file owned by
 * another user holds a secret that user chose or can change (for a keyring:
 * the KEK). The target of a followed link may instead be owned by root: a
 * Kubernetes Secret volume's files are created by the kubelet as root (only
 * projected service-account tokens can be given to the pod's user,
 * https://github.com/kubernetes/kubernetes/blob/master/pkg/volume/projected/projected.go),
 * and a root-owned file that group and others cannot write could only have
 * been written by root, who can read kleidi's memory anyway. The checks are
 * made with fstat on the descriptor that is then read, so the file cannot be
 * swapped between check and read; the open is O_NOFOLLOW unless links are
 * followed, and O_NONBLOCK so a FIFO planted at the path is refused instead
 * of blocking the start. Every failure is a BackendMisconfiguredError naming
 * the file and never its content.
 */
export async function readSecretFile(
  path: string,
  opts: SecretFileOptions & { readonly optional: true },
): Promise<SecretFile | undefined>;
export async function readSecretFile(path: string, opts: SecretFileOptions): Promise<SecretFile>;
export async function readSecretFile(
  path: string,
  opts: SecretFileOptions & { readonly optional?: boolean },
): Promise<SecretFile | undefined> {
  const label = `${opts.what} ${path}`;
  const fh = await openForCheck(path, label, opts);
  if (fh === undefined) return undefined;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new BackendMisconfiguredError(`${label} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new BackendMisconfiguredError(
        `${label} has mode ${mode}; it must not be accessible by group or others (run: chmod 600 ${path})`,
      );
    }
    checkOwner(st.uid, label, path, opts);
    if (opts.maxBytes !== undefined && st.size > opts.maxBytes) {
      throw new BackendMisconfiguredError(`${label} is too large (${st.size} bytes)`);
    }
    let text: string;
    try {
      text = await fh.readFile('utf8');
    } catch (err) {
      throw new BackendMisconfiguredError(`cannot read ${label}: ${errnoText(err)}`, { cause: err });
    }
    return { text, stamp: stampOf(st), gid: st.gid };
  } finally {
    await fh.close();
  }
}

/**
 * Reads a file that is not secret but that kleidi trusts: a CA bundle or a
 * client certificate it verifies Vault with, a role_id or a service-account
 * token that names its identity. SECURITY: whoever can write such a file can
 * make kleidi send its credentials and the seeds to another server, or log
 * in as another identity; so the file must be a regular file that neither
 * its group nor others may write, owned by the user kleidi runs as or by
 * root (Kubernetes volumes are written by the kubelet as root). Read access
 * is not restricted: a projected service-account token is 0644 by default
 * (https://kubernetes.io/docs/concepts/storage/projected-volumes/). Links
 * are followed, as for Secret volumes; the checks are made with fstat on the
 * descriptor that is then read.
 */
export async function readTrustedFile(path: string, what: string): Promise<string> {
  const label = `${what} ${path}`;
  const fh = await openForCheck(path, label, { followLinks: true });
  if (fh === undefined) throw new BackendMisconfiguredError(`cannot read ${label}: it does not exist`);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new BackendMisconfiguredError(`${label} is not a regular file`);
    if ((st.mode & 0o022) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new BackendMisconfiguredError(
        `${label} has mode ${mode}; it must not be writable by group or others (run: chmod go-w ${path})`,
      );
    }
    checkOwner(st.uid, label, path, { what, followLinks: true });
    try {
      return await fh.readFile('utf8');
    } catch (err) {
      throw new BackendMisconfiguredError(`cannot read ${label}: ${errnoText(err)}`, { cause: err });
    }
  } finally {
    await fh.close();
  }
}

/** Opens for the checks above: O_NOFOLLOW unless links are followed; undefined for a missing optional file. */
async function openForCheck(
  path: string,
  label: string,
  opts: { readonly followLinks?: boolean; readonly optional?: boolean },
): Promise<Awaited<ReturnType<typeof open>> | undefined> {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | (opts.followLinks ? 0 : constants.O_NOFOLLOW);
  try {
    return await open(path, flags);
  } catch (err) {
    if (opts.optional && isErrno(err, 'ENOENT')) return undefined;
    // O_NOFOLLOW on a symbolic link fails with ELOOP (open(2)).
    if (isErrno(err, 'ELOOP')) throw new BackendMisconfiguredError(`${label} is not a regular file (a symbolic link)`);
    throw new BackendMisconfiguredError(`cannot read ${label}: ${errnoText(err)}`, { cause: err });
  }
}

/** The effective uid, or undefined where the platform has none (process.geteuid is POSIX-only). */
function effectiveUid(): number | undefined {
  return process.geteuid?.();
}

function checkOwner(uid: number, label: string, path: string, opts: SecretFileOptions): void {
  const euid = effectiveUid();
  const owner = opts.owner ?? (euid === undefined ? undefined : { uid: euid, who: 'the user kleidi runs as' });
  if (owner === undefined || uid === owner.uid || (opts.followLinks && uid === 0)) return;
  throw new BackendMisconfiguredError(
    `${label} is owned by uid ${uid}, not by uid ${owner.uid} (${owner.who})${opts.followLinks ? ' or root' : ''} ` +
      `(run: chown ${owner.uid} ${path})`,
  );
}
