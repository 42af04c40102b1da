import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

// scripts/bootstrap.mjs, the README's install command, run as on a fresh clone: by the first `node` on a
// PATH without node_modules/.bin (the machine's own Node, 20 on ours), in a copy of the files npm ci reads,
// with an empty kleidi cache. npm's own cache (~/.npm) is kept: the packages come from it, not the network.

const REPO = new URL('../../', import.meta.url).pathname;
const PINNED_VERSION = JSON.parse(readFileSync(join(REPO, 'tools/node-toolchain/package.json'), 'utf8')).version;
const PKG = `node-${process.platform}-${process.arch}`;
// The binary's name in SHA256SUMS and under the kleidi cache, as in the official release tarball.
const SUM_NAME = `node-v${PINNED_VERSION}-${process.platform}-${process.arch}/bin/node`;
const FILES = [
  'package.json',
  'package-lock.json',
  '.npmrc',
  'tools/node-toolchain/package.json',
  'tools/node-toolchain/SHA256SUMS',
  'scripts/bootstrap.mjs',
  'scripts/check-node-pin.mjs',
];
// A whole `npm ci` from a warm cache, pkcs11js's native build included, takes 15-50 s on a busy 2-core
// machine; the bound only stops a hung install.
const INSTALL_MS = 300_000;
// Without npm ci: npm pack from the cache, then hashing the 50 MB tarball and the 120 MB binary.
const VERIFY_MS = 120_000;

interface Lock {
  packages: Record<string, { engines?: Record<string, string>; integrity?: string }>;
}

/** PATH as a fresh shell has it: no node_modules/.bin, so `node` is the machine's own. */
const systemPath = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((d) => d !== '' && !d.includes('node_modules/.bin') && d !== dirname(process.execPath))
  .join(delimiter);
const systemEnv = (cache: string, tmp?: string): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { PATH: systemPath, XDG_CACHE_HOME: cache, ...(tmp ? { TMPDIR: tmp } : {}) };
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('npm_') && !['PATH', 'XDG_CACHE_HOME', 'TMPDIR', 'NODE_OPTIONS'].includes(k)) env[k] = v;
  }
  return env;
};

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function copy(edit: { lock?: (l: Lock) => void; sums?: (s: string) => string } = {}): { root: string; cache: string } {
  const root = mkdtempSync(join(tmpdir(), 'kleidi-bootstrap-test-'));
  dirs.push(root);
  for (const f of FILES) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    copyFileSync(join(REPO, f), join(root, f));
  }
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Lock;
  edit.lock?.(lock);
  writeFileSync(join(root, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  const sums = join(root, 'tools/node-toolchain/SHA256SUMS');
  writeFileSync(sums, (edit.sums ?? ((s) => s))(readFileSync(sums, 'utf8')));
  return { root, cache: join(root, '.test-cache') };
}

function bootstrap(root: string, cache: string, timeout: number): { status: number | null; out: string } {
  mkdirSync(join(root, '.tmp'));
  const r = spawnSync('node', ['scripts/bootstrap.mjs'], {
    cwd: root,
    env: systemEnv(cache, join(root, '.tmp')),
    encoding: 'utf8',
    timeout,
    killSignal: 'SIGKILL',
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** What the bootstrap left in its TMPDIR: the tarball and the extracted binary must be gone, on failure too. */
const leftovers = (root: string): string[] =>
  readdirSync(join(root, '.tmp')).filter((f) => f.startsWith('kleidi-bootstrap-'));

/** The `package:` of every EBADENGINE block npm printed. */
const engineWarnings = (out: string): string[] =>
  [...out.matchAll(/EBADENGINE\s+package: '([^']+)'/g)].map((m) => m[1] ?? '');

describe('scripts/bootstrap.mjs: npm ci on the pinned Node.js', () => {
  it(
    'installs with no engine warning for the packages the pinned Node supports, and still warns for one it does not',
    () => {
      const systemNode = spawnSync('node', ['--version'], { env: systemEnv(''), encoding: 'utf8' });
      expect(systemNode.status, 'a node on PATH besides node_modules/.bin, as the README requires').toBe(0);

      // A genuinely broken constraint: yaml (a runtime dependency) claiming it needs a Node that does not exist.
      const { root, cache } = copy({
        lock: (l) => {
          const yaml = l.packages['node_modules/yaml'];
          if (yaml) yaml.engines = { node: '>=99' };
        },
      });
      const r = bootstrap(root, cache, INSTALL_MS);

      expect(r.status, r.out).toBe(0);
      expect(engineWarnings(r.out), r.out).toEqual(['yaml@2.9.1']);
      // npm itself ran on the pinned binary: that is the Node it compared the constraint with.
      expect(r.out).toContain(`current: { node: 'v${PINNED_VERSION}'`);
      expect(r.out).toContain('check-node-pin: node v');
      expect(existsSync(join(root, 'node_modules', PKG, 'bin/node'))).toBe(true);
      expect(leftovers(root)).toEqual([]);
      expect(existsSync(join(cache, 'kleidi/node', SUM_NAME))).toBe(true);
    },
    INSTALL_MS + 10_000,
  );

  it(
    'refetches a cached binary that does not match SHA256SUMS, and refuses a tarball the lockfile does not pin, before npm ci',
    () => {
      const { root, cache } = copy({
        lock: (l) => {
          const entry = l.packages[`node_modules/${PKG}`];
          // One character changed: the sha512 of some other tarball.
          if (entry?.integrity)
            entry.integrity = `sha512-${entry.integrity[7] === 'A' ? 'B' : 'A'}${entry.integrity.slice(8)}`;
        },
      });
      const cached = join(cache, 'kleidi/node', SUM_NAME);
      mkdirSync(dirname(cached), { recursive: true });
      writeFileSync(cached, '#!/bin/sh\necho not node\n', { mode: 0o755 });

      const r = bootstrap(root, cache, VERIFY_MS);

      expect(r.out).toContain('does not match SHA256SUMS: fetching it again');
      expect(r.out).toMatch(/tarball sha512-\S+, package-lock\.json pins sha512-/);
      expect(r.status).toBe(1);
      expect(existsSync(join(root, 'node_modules')), 'npm ci never ran').toBe(false);
      expect(existsSync(cached), 'the mismatching binary is gone').toBe(false);
      expect(leftovers(root)).toEqual([]);
    },
    VERIFY_MS + 10_000,
  );

  it(
    'refuses a binary whose SHA-256 is not the one in SHA256SUMS, before npm ci',
    () => {
      const { root, cache } = copy({
        sums: (s) =>
          s.replace(new RegExp(`^[0-9a-f]{64}(?=\\s+\\*?${SUM_NAME.replaceAll('.', '\\.')}$)`, 'm'), '0'.repeat(64)),
      });
      const r = bootstrap(root, cache, VERIFY_MS);

      expect(r.out).toMatch(/bin\/node SHA-256 [0-9a-f]{64}, SHA256SUMS pins 0{64}/);
      expect(r.status).toBe(1);
      expect(existsSync(join(root, 'node_modules')), 'npm ci never ran').toBe(false);
      expect(leftovers(root)).toEqual([]);
    },
    VERIFY_MS + 10_000,
  );
});
