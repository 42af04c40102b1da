import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const REPO = new URL('../../../', import.meta.url).pathname;
const SCRIPT = join(REPO, 'scripts/check-node-pin.mjs');
const PKG = `node-${process.platform}-${process.arch}`;
const PINNED = join(REPO, 'node_modules', PKG, 'bin/node');
// Hashing and copying the ~120 MB binary takes a moment on a busy machine.
const SLOW = 60_000;

function check(root?: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [SCRIPT, ...(root ? ['--root', root] : [])], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A copy of the repository's pin (lockfile, toolchain package, sums); `binary` places node_modules/<pkg>/bin/node. */
function fakeRoot(binary: 'link' | 'copy' | 'tampered' | 'missing', lock?: (l: Lock) => void): string {
  const root = mkdtempSync(join(tmpdir(), 'kleidi-node-pin-'));
  roots.push(root);
  mkdirSync(join(root, 'tools/node-toolchain'), { recursive: true });
  for (const f of ['package.json', 'SHA256SUMS'])
    copyFileSync(join(REPO, 'tools/node-toolchain', f), join(root, 'tools/node-toolchain', f));
  const l = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as Lock;
  lock?.(l);
  writeFileSync(join(root, 'package-lock.json'), JSON.stringify(l));
  const dir = join(root, 'node_modules', PKG, 'bin');
  mkdirSync(dir, { recursive: true });
  if (binary === 'link') symlinkSync(PINNED, join(dir, 'node'));
  if (binary === 'copy') copyFileSync(PINNED, join(dir, 'node'));
  if (binary === 'tampered') {
    const bytes = readFileSync(PINNED);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0x01;
    writeFileSync(join(dir, 'node'), bytes);
  }
  return root;
}

interface Lock {
  packages: Record<string, { version?: string; integrity?: string; hasInstallScript?: boolean }>;
}

// Every case hashes the binary (or a copy of it): all get the long timeout.
describe('scripts/check-node-pin.mjs: the Node.js binary the build runs on', { timeout: SLOW }, () => {
  it('is the lockfile-pinned platform package whose SHA-256 is in tools/node-toolchain/SHA256SUMS', () => {
    const r = check();
    expect(r.out).toContain(`matches package-lock.json and SHA256SUMS`);
    expect(r.status).toBe(0);
  });

  it('the same pin, copied, passes: the fixture below is faithful', () => {
    const r = check(fakeRoot('link'));
    expect(r.out).toContain('matches');
    expect(r.status).toBe(0);
  });

  it('refuses an installed binary with one byte changed', () => {
    const r = check(fakeRoot('tampered'));
    expect(r.out).toMatch(new RegExp(`node_modules/${PKG}/bin/node: SHA-256 [0-9a-f]{64}, pinned [0-9a-f]{64}`));
    expect(r.status).toBe(1);
  });

  it('refuses when npm skipped the optional platform package (its tarball failed the integrity check)', () => {
    const r = check(fakeRoot('missing'));
    expect(r.out).toContain(`node_modules/${PKG}/bin/node is missing`);
    expect(r.status).toBe(1);
  });

  it('refuses to vouch for a node other than the pinned file running it', () => {
    // Same bytes, another file: the check ran on a node that is not the installed pin.
    const r = check(fakeRoot('copy'));
    expect(r.out).toContain('not the pinned');
    expect(r.status).toBe(1);
  });

  it('refuses a lockfile without the integrity, or with the install-script wrapper back', () => {
    const r = check(
      fakeRoot('link', (l) => {
        const entry = l.packages[`node_modules/${PKG}`];
        if (entry) delete entry.integrity;
        l.packages['node_modules/node'] = { version: '24.21.0', hasInstallScript: true };
      }),
    );
    expect(r.out).toContain(`${PKG} has no sha512 integrity`);
    expect(r.out).toContain('node_modules/node is the "node" wrapper');
    expect(r.status).toBe(1);
  });
});
