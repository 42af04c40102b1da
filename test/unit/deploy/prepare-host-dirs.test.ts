import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// The init containers' root step (deploy/image/prepare-host-dirs.mjs), run as the manifests run it.
const SCRIPT = new URL('../../../deploy/image/prepare-host-dirs.mjs', import.meta.url).pathname;
const UID = 65532;

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('deploy/image/prepare-host-dirs.mjs (the init container without a shell)', () => {
  let root: string;
  beforeEach(() => {
    if (process.getuid?.() !== 0) throw new Error('this test chowns files to uid 65532 and must run as root');
    root = mkdtempSync(join(tmpdir(), 'kleidi-hostdirs-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('gives the socket and state directories (and the state contents) to kleidi, modes 0750 and 0700', () => {
    const sock = join(root, 'run');
    const state = join(root, 'state');
    mkdirSync(sock, { mode: 0o755 });
    mkdirSync(join(state, 'softhsm/tokens'), { recursive: true, mode: 0o755 });
    writeFileSync(join(state, 'keyring.json'), '{}', { mode: 0o600 });
    // A link in the state directory is re-owned itself; what it points at is left alone.
    const outside = join(root, 'outside');
    writeFileSync(outside, 'not kleidi');
    symlinkSync(outside, join(state, 'link'));

    const r = run('--owner', `${UID}:${UID}`, '--socket-dir', sock, '--state-dir', state);
    expect(r.out).toContain('and its contents (0700, 65532:65532)');
    expect(r.status).toBe(0);
    expect(statSync(sock)).toMatchObject({ uid: UID, gid: UID });
    expect(statSync(sock).mode & 0o777).toBe(0o750);
    expect(statSync(state).mode & 0o777).toBe(0o700);
    for (const p of ['', 'softhsm', 'softhsm/tokens', 'keyring.json', 'link'])
      expect(lstatSync(join(state, p)), p).toMatchObject({ uid: UID, gid: UID });
    expect(statSync(outside).uid).toBe(0);
  });

  it('copies Secret files (links followed) into 0600 files kleidi owns, skipping the ..data entries', () => {
    const src = join(root, 'secret');
    const data = join(src, '..2026_12_04');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'token'), 's.vault-token');
    writeFileSync(join(data, 'role-id'), 'role');
    symlinkSync('..2026_12_04', join(src, '..data'));
    symlinkSync('..data/token', join(src, 'token'));
    symlinkSync('..data/role-id', join(src, 'role-id'));
    chmodSync(join(data, 'token'), 0o440);
    const pinSrc = join(root, 'pin-source');
    mkdirSync(pinSrc);
    writeFileSync(join(pinSrc, 'pin'), '1234');
    const dest = join(root, 'dest');
    mkdirSync(join(dest, 'vault'), { recursive: true });

    const r = run(
      '--owner',
      `${UID}:${UID}`,
      '--copy',
      join(pinSrc, 'pin'),
      join(dest, 'pin'),
      '--copy-dir',
      src,
      join(dest, 'vault'),
    );
    expect(r.out).not.toContain('1234');
    expect(r.out).not.toContain('s.vault-token');
    expect(r.status).toBe(0);
    expect(readdirSync(join(dest, 'vault')).sort()).toEqual(['role-id', 'token']);
    for (const f of ['pin', 'vault/token', 'vault/role-id']) {
      const st = lstatSync(join(dest, f));
      expect(st.isFile(), f).toBe(true);
      expect(st.mode & 0o777, f).toBe(0o600);
      expect(st, f).toMatchObject({ uid: UID, gid: UID });
    }
    expect(readFileSync(join(dest, 'vault/token'), 'utf8')).toBe('s.vault-token');
    expect(readFileSync(join(dest, 'pin'), 'utf8')).toBe('1234');
  });

  it('refuses a socket or state directory that is a symbolic link', () => {
    const real = join(root, 'real');
    mkdirSync(real, { mode: 0o755 });
    chmodSync(real, 0o755); // whatever the umask
    symlinkSync(real, join(root, 'state'));
    const r = run('--owner', `${UID}:${UID}`, '--state-dir', join(root, 'state'));
    expect(r.out).toContain('is not a directory (a symbolic link is refused)');
    expect(r.status).toBe(1);
    expect(statSync(real).uid).toBe(0);
    expect(statSync(real).mode & 0o777).toBe(0o755);
  });

  it('refuses to run without an owner', () => {
    const r = run('--socket-dir', root);
    expect(r.out).toContain('--owner <uid>:<gid> is required');
    expect(r.status).toBe(1);
  });
});
