import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BackendMisconfiguredError, BackendUnavailableError } from '../../../domain/model/errors.js';
import { stampOf } from '../shared/file-stamp.js';
import { parseKeyringJson, serializeKeyring, type Keyring } from './keyring-format.js';

/**
 * Reads and writes the keyring file. SECURITY: the file holds KEKs in the
 * clear, so it must be 0600 (owner only); we refuse anything broader rather
 * than "fixing" it, because a broader mode means the key may already be
 * exposed and an operator has to decide.
 */
export async function readKeyring(path: string): Promise<{ keyring: Keyring; stamp: string } | undefined> {
  let st: Stats;
  try {
    st = await lstat(path);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined;
    throw new BackendMisconfiguredError(`cannot stat keyring file ${path}: ${codeOf(err)}`, { cause: err });
  }
  if (!st.isFile()) {
    throw new BackendMisconfiguredError(`keyring ${path} is not a regular file`);
  }
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw new BackendMisconfiguredError(
      `keyring file ${path} has mode ${mode}; it must not be accessible by group or others (chmod 600)`,
    );
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new BackendMisconfiguredError(`cannot read keyring file ${path}: ${codeOf(err)}`, { cause: err });
  }
  return { keyring: parseKeyringJson(text, path), stamp: stampOf(st) };
}

/** The keyring's stamp (lstat: the keyring must be a regular file, not a link), or undefined when missing. */
export async function statStamp(path: string): Promise<string | undefined> {
  try {
    return stampOf(await lstat(path));
  } catch {
    return undefined;
  }
}

/** Atomic replace: temp file in the same directory (0600), fsync, rename, fsync the directory. */
export async function writeKeyring(path: string, keyring: Keyring): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
    throw unwritable(dir, err);
  });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await fh.writeFile(serializeKeyring(keyring));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw unwritable(dir, err);
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

function unwritable(dir: string, err: unknown): BackendMisconfiguredError | BackendUnavailableError {
  const code = codeOf(err);
  const msg = `cannot write the keyring in ${dir}: ${code}`;
  // A full disk may clear by itself; a permission problem needs an operator.
  return code === 'ENOSPC'
    ? new BackendUnavailableError(msg, { cause: err })
    : new BackendMisconfiguredError(msg, { cause: err });
}

export function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

export function codeOf(err: unknown): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : 'unknown error';
}
