import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';

/**
 * A cheap identity of a file, to notice that an operator changed it without
 * re-reading it: a replacement (rename, a Kubernetes Secret update) gives a
 * new inode; an edit, chmod or chown a new ctime. Shared by the backends that
 * watch files (keyring, PIN file, Vault credential files); knows no backend.
 */
export function stampOf(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/**
 * stampOf() of the file behind `path`, following symlinks (a Secret volume's
 * file is a link whose target changes), or "missing".
 */
export async function fileStamp(path: string): Promise<string> {
  return stat(path).then(stampOf, () => 'missing');
}
