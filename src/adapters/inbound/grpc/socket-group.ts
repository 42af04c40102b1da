import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** An NSS lookup through LDAP or sssd may be slow; a start must not hang on it. */
const LOOKUP_TIMEOUT_MS = 5_000;

export interface GroupLookup {
  /** The getent(1) to run; glibc's, in libc-bin on Debian. */
  readonly getent?: string;
  /** Read only when there is no getent (a minimal image without libc-bin). */
  readonly groupFile?: string;
}

/**
 * Resolves the socket's group (a name, or a gid given as a number or digits)
 * to a gid. A name is looked up through the system's name service switch,
 * as `chgrp` would: `getent group` consults every source nsswitch.conf lists
 * (files, sssd, LDAP, systemd's dynamic users), not only /etc/group. Node has
 * no getgrnam(3) binding, so getent(1) stands in for it
 * (https://man7.org/linux/man-pages/man1/getent.1.html); where it is missing,
 * /etc/group is read.
 */
export async function resolveSocketGroup(
  group: string | number | undefined,
  lookup: GroupLookup = {},
): Promise<number | undefined> {
  if (group === undefined) return undefined;
  if (typeof group === 'number') return group;
  if (/^\d+$/.test(group)) return Number(group);
  const gid = /^[^:\s]+$/.test(group) ? await lookupGid(group, lookup) : undefined;
  if (gid === undefined) throw new Error(`socketGroup: group "${group}" does not exist on this host`);
  return gid;
}

async function lookupGid(name: string, lookup: GroupLookup): Promise<number | undefined> {
  const viaNss = await getent(lookup.getent ?? 'getent', name);
  if (viaNss !== 'no-getent') return viaNss;
  const text = await readFile(lookup.groupFile ?? '/etc/group', 'utf8');
  return gidIn(text, name);
}

/** The gid getent reports; undefined when the group is unknown; 'no-getent' when it cannot run. */
function getent(command: string, name: string): Promise<number | undefined | 'no-getent'> {
  return new Promise((resolve, reject) => {
    // `--` so a name starting with "-" is never read as an option.
    execFile(command, ['group', '--', name], { timeout: LOOKUP_TIMEOUT_MS }, (err, stdout) => {
      if (!err) return resolve(gidIn(stdout, name));
      // A failed spawn carries the errno name in `code`; a non-zero exit, the exit status.
      const e = err as Error & { code?: string | number; killed?: boolean };
      if (e.code === 'ENOENT') return resolve('no-getent');
      // getent exits 2 when the key is not in the database (getent(1), EXIT STATUS).
      if (e.code === 2) return resolve(undefined);
      reject(new Error(`socketGroup: cannot look up group "${name}" (getent: ${e.killed ? 'timed out' : e.message})`));
    });
  });
}

/** The gid of `name` in group(5) lines: name:password:gid:members. */
function gidIn(text: string, name: string): number | undefined {
  const fields = text
    .split('\n')
    .map((l) => l.split(':'))
    .find((f) => f[0] === name);
  const gid = fields?.[2];
  return gid !== undefined && /^\d+$/.test(gid) ? Number(gid) : undefined;
}
