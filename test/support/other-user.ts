import { chmodSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Lets another uid run the checkout's Node binary and `dist/` for one test
 * file, whatever modes the checkout was made with. A process running as
 * another user must be able to search every directory above the files it
 * runs, and to read (and, for the Node binary, execute) the files themselves.
 * A checkout may sit below a 0700 directory (`mktemp -d` makes one), and one
 * made under `umask 077` has every file 0600 and every directory 0700 —
 * including the pinned Node binary, which lives in `node_modules`. So this
 * adds, only where missing: the search bit for others (o+x: enter, not list)
 * to each ancestor of `paths`; o+r to every file at or below `paths` and o+x
 * to those its owner may execute; o+rx to every directory below them. The
 * returned function puts every mode back. Needs root, like the tests that use
 * it. Symbolic links are not followed (`lstat`), so nothing outside the given
 * trees changes.
 */
export function letOtherUsersReach(...paths: string[]): () => void {
  const changed = new Map<string, number>();
  const widen = (path: string, mode: number, add: number): void => {
    if ((mode & add) !== add && !changed.has(path)) {
      changed.set(path, mode);
      chmodSync(path, mode | add);
    }
  };
  const walk = (path: string): void => {
    const st = lstatSync(path);
    const mode = st.mode & 0o7777;
    if (st.isDirectory()) {
      widen(path, mode, 0o005);
      for (const name of readdirSync(path)) walk(join(path, name));
    } else if (st.isFile()) {
      widen(path, mode, mode & 0o100 ? 0o005 : 0o004);
    }
  };
  for (const p of paths) {
    const full = resolve(p);
    for (let dir = dirname(full); ; dir = dirname(dir)) {
      widen(dir, statSync(dir).mode & 0o7777, 0o001);
      if (dir === dirname(dir)) break;
    }
    walk(full);
  }
  return () => {
    for (const [path, mode] of changed) chmodSync(path, mode);
  };
}
