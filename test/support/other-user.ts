import { chmodSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Lets another uid run the checkout's Node binary and `dist/` for one test
 * file. A process running as another user must be able to search every
 * directory above the files it runs, and a checkout may sit below a 0700
 * directory (`mktemp -d` makes one). This adds only the search bit for others
 * (o+x: enter, not list) to each such ancestor of `paths`, and the returned
 * function puts every mode back. Needs root, like the tests that use it.
 */
export function letOtherUsersReach(...paths: string[]): () => void {
  const changed = new Map<string, number>();
  for (const p of paths) {
    for (let dir = dirname(resolve(p)); ; dir = dirname(dir)) {
      const mode = statSync(dir).mode & 0o7777;
      if ((mode & 0o001) === 0 && !changed.has(dir)) {
        changed.set(dir, mode);
        chmodSync(dir, mode | 0o001);
      }
      if (dir === dirname(dir)) break;
    }
  }
  return () => {
    for (const [dir, mode] of changed) chmodSync(dir, mode);
  };
}
