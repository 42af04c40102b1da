import { readFile, stat } from 'node:fs/promises';
import { fileStamp } from '../shared/file-stamp.js';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';

/**
 * Reads a credential file (token, AppRole secret_id, client key) afresh, so a
 * rotated credential is used at the next login. SECURITY: a file any local
 * user can read is refused: the credential must be treated as already leaked.
 * The content is never logged or put into an error message.
 */
export async function readSecretFile(path: string, what: string): Promise<string> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (cause) {
    throw new BackendMisconfiguredError(`cannot read the Vault ${what} file ${path}`, { cause });
  }
  if ((mode & 0o004) !== 0) {
    throw new BackendMisconfiguredError(
      `the Vault ${what} file ${path} is readable by every user (mode ${(mode & 0o777).toString(8)}); ` +
        `run \`chmod o-rwx ${path}\` and rotate the credential`,
    );
  }
  return readTrimmed(path, what);
}

/**
 * Reads a non-secret or kubelet-managed file (role_id, service-account JWT).
 * Projected service-account tokens are mode 0644 by default, so no mode check.
 */
export async function readPlainFile(path: string, what: string): Promise<string> {
  return readTrimmed(path, what);
}

async function readTrimmed(path: string, what: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new BackendMisconfiguredError(`cannot read the Vault ${what} file ${path}`, { cause });
  }
  const value = text.trim();
  if (value.length === 0) throw new BackendMisconfiguredError(`the Vault ${what} file ${path} is empty`);
  return value;
}

/**
 * The stamps of the credential files (inode, size, mtime, ctime; links
 * followed, so an updated Kubernetes Secret volume counts): they change when
 * an operator writes or replaces one, so a login that backoff would otherwise
 * delay can be tried at once. Never reads the contents.
 */
export async function filesStamp(paths: readonly string[]): Promise<string> {
  return (await Promise.all(paths.map(fileStamp))).join('|');
}
