import type { Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';

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
 * stampOf() of the file behind `path`, or undefined when there is none. Links
 * are followed by default (a Secret volume's file is a link whose target
 * changes on an update); `followLinks: false` stamps the link itself, for a
 * file that must not be one (the keyring).
 */
export async function fileStamp(path: string, opts: { followLinks?: boolean } = {}): Promise<string | undefined> {
  return (opts.followLinks === false ? lstat(path) : stat(path)).then(stampOf, () => undefined);
}
