import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveSocketGroup } from '#src/adapters/inbound/grpc/socket-group.js';

const dir = mkdtempSync(join(tmpdir(), 'kleidi-groups-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in getent(1) that knows one group, as an NSS source such as sssd would, and records its arguments. */
function fakeGetent(): { path: string; argsFile: string } {
  const path = join(dir, 'getent');
  const argsFile = join(dir, 'getent.args');
  writeFileSync(
    path,
    `#!/bin/sh\necho "$@" > ${argsFile}\nif [ "$3" = "kube-ldap" ]; then echo "kube-ldap:*:4242:alice"; exit 0; fi\nexit 2\n`,
  );
  chmodSync(path, 0o755);
  return { path, argsFile };
}

describe('the socket group lookup', () => {
  it('takes a gid as a number or as digits without a lookup', async () => {
    const lookup = { getent: join(dir, 'must-not-run') };
    expect(await resolveSocketGroup(undefined, lookup)).toBeUndefined();
    expect(await resolveSocketGroup(0, lookup)).toBe(0);
    expect(await resolveSocketGroup('1234', lookup)).toBe(1234);
  });

  it('asks the name service switch, so a group that is not in /etc/group (LDAP, sssd) is found', async () => {
    const { path } = fakeGetent();
    const groupFile = join(dir, 'group-without-it');
    writeFileSync(groupFile, 'root:x:0:\n');
    expect(await resolveSocketGroup('kube-ldap', { getent: path, groupFile })).toBe(4242);
  });

  it('refuses a group the name service does not know, naming it', async () => {
    const { path } = fakeGetent();
    await expect(resolveSocketGroup('no-such-group', { getent: path })).rejects.toThrow(
      'socketGroup: group "no-such-group" does not exist on this host',
    );
  });

  it('passes the name after "--", so it is never taken for an option', async () => {
    const { path, argsFile } = fakeGetent();
    await expect(resolveSocketGroup('-s', { getent: path })).rejects.toThrow(/does not exist/);
    expect(readFileSync(argsFile, 'utf8').trim()).toBe('group -- -s');
  });

  it('reads /etc/group where there is no getent (a minimal image)', async () => {
    const groupFile = join(dir, 'group');
    writeFileSync(groupFile, 'root:x:0:\nkube:x:998:apiserver\n');
    const lookup = { getent: join(dir, 'no-getent-here'), groupFile };
    expect(await resolveSocketGroup('kube', lookup)).toBe(998);
    await expect(resolveSocketGroup('other', lookup)).rejects.toThrow(/group "other" does not exist/);
  });

  it('finds a real group through the system getent', async () => {
    expect(await resolveSocketGroup('root')).toBe(0);
  });
});
