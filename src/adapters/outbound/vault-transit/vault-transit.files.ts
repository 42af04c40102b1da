import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { fileStamp } from '../shared/file-stamp.js';
import { readSecretFile as readSecret, readTrustedFile } from '../shared/secret-file.js';

/**
 * Reads a credential file (token, AppRole secret_id, client key) afresh, so a
 * rotated credential is used at the next login. SECURITY: the same policy as
 * every secret file (readSecretFile): a file its group or other users may
 * access is refused, and the credential must be treated as already leaked.
 * Unlike kleidi's own secrets these may be symbolic links: a Kubernetes
 * Secret volume presents each key as a link into a `..data` directory that
 * the kubelet swaps atomically on an update
 * (https://github.com/kubernetes/kubernetes/blob/master/pkg/volume/util/atomic_writer.go),
 * and following it is what lets a rotated Secret reach the next login.
 * The content is never logged or put into an error message.
 */
export async function readSecretFile(path: string, what: string): Promise<string> {
  const { text } = await readSecret(path, { what: `Vault ${what} file`, followLinks: true });
  return nonEmpty(text, path, what);
}

/**
 * Reads a file that names kleidi's identity but is not secret (role_id, the
 * service-account JWT): readable by anyone is fine (projected service-account
 * tokens are 0644 by default), writable by another user is not (readTrustedFile).
 */
export async function readPlainFile(path: string, what: string): Promise<string> {
  return nonEmpty(await readTrustedFile(path, `Vault ${what} file`), path, what);
}

function nonEmpty(text: string, path: string, what: string): string {
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
  return (await Promise.all(paths.map(async (p) => (await fileStamp(p)) ?? 'missing'))).join('|');
}
