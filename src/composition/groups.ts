import { readFileSync } from 'node:fs';

/** Resolves a group name (from /etc/group) or number to a gid, for the socket's group. */
export function resolveGid(group: string | number | undefined): number | undefined {
  if (group === undefined) return undefined;
  if (typeof group === 'number') return group;
  if (/^\d+$/.test(group)) return Number(group);
  const line = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[0] === group);
  const gid = line?.split(':')[2];
  if (gid === undefined) throw new Error(`socketGroup: group "${group}" does not exist on this host`);
  return Number(gid);
}
