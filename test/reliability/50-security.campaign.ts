import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { backends } from '#src/composition/backends/index.js';
import { groupRuntimeDeps, inventoryDrift, type NpmTree, type RuntimeInventory } from '../../tools/runtime-deps.js';
import { softHsmFixture, type SoftHsmFixture } from '../support/softhsm.fixture.js';
import { startDevVault, type VaultServer, secretFile, setUpTransit } from '../support/vault-server.fixture.js';
import { createToken, minimalPolicy, writePolicy } from '../support/vault-auth.fixture.js';
import { record, registerSecret, REPO, sleep } from './support/env.js';
import { KleidiNode, runCli } from './support/kleidi.js';
import { registerKeyringSecrets } from './support/keyring-watch.js';

const run = promisify(execFile);

/** The process's argv and its initial environment as the kernel shows them to root and the same uid. */
function procDump(pid: number): { cmdline: string; environ: string } {
  return {
    cmdline: readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' '),
    environ: readFileSync(`/proc/${pid}/environ`, 'latin1').replaceAll('\0', '\n'),
  };
}

/**
 * Security checks as tests (docs/security-checks.md): socket and keyring modes, secrets in
 * /proc, world-readable credential files, the runtime dependencies' audit.
 * Each check records what it saw; docs/reliability.md lists them.
 */
describe('reliability: security checks', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function scratch(prefix: string): Promise<string> {
    const dir = await mkdtemp(`/tmp/kleidi-rel-${prefix}-`);
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  it('the socket is 0600 by default; the local state directory is 0700 and the keyring 0600', async () => {
    const dir = await scratch('sec');
    const node = new KleidiNode({
      name: 'security-local',
      socket: join(dir, 'kms.sock'),
      stateDir: join(dir, 'state'),
      backend: 'local',
      env: {},
    });
    await node.start();
    cleanups.push(async () => void (await node.stop()));
    registerKeyringSecrets(join(node.spec.stateDir, 'keyring.json'));
    const mode = (p: string) => (statSync(p).mode & 0o777).toString(8).padStart(4, '0');
    const seen = {
      socket: mode(node.spec.socket),
      stateDir: mode(node.spec.stateDir),
      keyring: mode(join(node.spec.stateDir, 'keyring.json')),
    };
    const invariants = {
      'socket 0600': seen.socket === '0600',
      'state directory 0700': seen.stateDir === '0700',
      'keyring 0600': seen.keyring === '0600',
    };
    record({ kind: 'security', name: 'file modes with default settings', seen, invariants });
    expect(seen).toEqual({ socket: '0600', stateDir: '0700', keyring: '0600' });
  });

  describe('PKCS#11 PIN', () => {
    let fx: SoftHsmFixture;
    const pin = `pin-${randomBytes(8).toString('hex')}`;
    const env = () => ({ SOFTHSM2_CONF: fx.conf, KLEIDI_PKCS11_TOKEN_LABEL: fx.label });

    it('is in neither the command line nor the environment when it comes from a file', async () => {
      registerSecret('PKCS#11 user PIN (security)', pin);
      fx = await softHsmFixture({ label: 'kleidi-sec', pin, soPin: `so-${randomBytes(8).toString('hex')}` });
      cleanups.push(() => fx.cleanup());
      const dir = await scratch('sec-p11');
      const init = await runCli('security-pkcs11', ['init', '--backend', 'pkcs11', '--state-dir', join(dir, 'state')], {
        ...env(),
        KLEIDI_PKCS11_PIN_FILE: fx.pinFile,
      });
      expect(init.code, init.stderr).toBe(0);
      const node = new KleidiNode({
        name: 'security-pkcs11-file',
        socket: join(dir, 'kms.sock'),
        stateDir: join(dir, 'state'),
        backend: 'pkcs11',
        env: { ...env(), KLEIDI_PKCS11_PIN_FILE: fx.pinFile },
      });
      await node.start();
      const dump = procDump(node.pid);
      await node.stop();
      const invariants = {
        'PIN not in /proc/<pid>/cmdline': !dump.cmdline.includes(pin),
        'PIN not in /proc/<pid>/environ': !dump.environ.includes(pin),
      };
      record({ kind: 'security', name: 'PKCS#11 PIN from a 0600 file: /proc/<pid>/cmdline and environ', invariants });
      expect(invariants).toEqual({ 'PIN not in /proc/<pid>/cmdline': true, 'PIN not in /proc/<pid>/environ': true });
    });

    it('from KLEIDI_PKCS11_PIN: kept out of argv, child processes and diagnostic reports, but /proc/<pid>/environ still shows it (finding, documented)', async () => {
      const dir = await scratch('sec-p11env');
      const reports = join(dir, 'reports');
      mkdirSync(reports, { mode: 0o700 });
      const node = new KleidiNode({
        name: 'security-pkcs11-env',
        socket: join(dir, 'kms.sock'),
        stateDir: join(dir, 'state'),
        backend: 'pkcs11',
        // A diagnostic report on SIGUSR2 shows process.env as the process sees it now.
        env: { ...env(), KLEIDI_PKCS11_PIN: pin, NODE_OPTIONS: `--report-on-signal --report-directory=${reports}` },
      });
      await node.start();
      const dump = procDump(node.pid);
      process.kill(node.pid, 'SIGUSR2');
      let report = '';
      for (let i = 0; i < 50 && !report; i++) {
        await sleep(100);
        const f = existsSync(reports) ? readdirSync(reports).find((x) => x.endsWith('.json')) : undefined;
        if (f) report = readFileSync(join(reports, f), 'utf8');
      }
      await node.stop();
      const seen = {
        'PIN in /proc/<pid>/cmdline': dump.cmdline.includes(pin),
        'PIN in /proc/<pid>/environ (the initial environment, readable by root and the same uid)':
          dump.environ.includes(pin),
        'PIN in a diagnostic report (process.env after startup)':
          report === '' ? 'no report written' : report.includes(pin),
      };
      record({
        kind: 'security',
        name: 'PKCS#11 PIN from KLEIDI_PKCS11_PIN: /proc/<pid>/cmdline, environ, diagnostic report',
        seen,
        invariants: {
          'PIN not in /proc/<pid>/cmdline': !seen['PIN in /proc/<pid>/cmdline'],
          'PIN scrubbed from process.env (diagnostic reports, child processes)':
            seen['PIN in a diagnostic report (process.env after startup)'] === false,
        },
        finding:
          'a secret passed in the environment stays readable in /proc/<pid>/environ for the life of the process (to root and the same uid): ' +
          'the kernel keeps the initial environment block, and no change to process.env removes it. Prefer pinFile / tokenFile.',
      });
      expect(seen['PIN in /proc/<pid>/cmdline']).toBe(false);
      expect(seen['PIN in a diagnostic report (process.env after startup)']).toBe(false);
    });

    it.each([0o644, 0o640, 0o604])(
      'a PIN file with mode %o is refused at startup with a clear message',
      async (mode) => {
        const dir = await scratch('sec-p11mode');
        const pinFile = join(dir, 'pin');
        const { writeFileSync } = await import('node:fs');
        writeFileSync(pinFile, `${pin}\n`);
        chmodSync(pinFile, mode);
        const r = await runCli(
          'security-pkcs11',
          [
            'serve',
            '--backend',
            'pkcs11',
            '--socket',
            join(dir, 'k.sock'),
            '--state-dir',
            join(dir, 'state'),
            '--http-address',
            '',
          ],
          { ...env(), KLEIDI_PKCS11_PIN_FILE: pinFile },
        );
        const message =
          r.stderr
            .trim()
            .split('\n')
            .filter((l) => !l.startsWith('{'))
            .join(' ') || r.stderr.trim();
        const octal = mode.toString(8).padStart(4, '0');
        const invariants = {
          'refused (non-zero exit)': r.code !== 0 && r.code !== null,
          'message names the file, its mode and the fix':
            message.includes(pinFile) && message.includes(octal) && /chmod 600/.test(message),
          'PIN not echoed': !(r.stdout + r.stderr).includes(pin),
        };
        record({
          kind: 'security',
          name: `PKCS#11 PIN file mode ${octal} refused`,
          exit: r.code,
          message: message.slice(0, 300),
          invariants,
        });
        expect(invariants).toEqual({
          'refused (non-zero exit)': true,
          'message names the file, its mode and the fix': true,
          'PIN not echoed': true,
        });
      },
    );
  });

  describe('Vault token', () => {
    let vault: VaultServer;
    let token = '';
    it('is in neither argv nor environ from a file; a world-readable token file is refused', async () => {
      vault = await startDevVault();
      cleanups.push(() => vault.stop());
      registerSecret('Vault root token (security)', vault.rootToken);
      await setUpTransit(vault);
      await writePolicy(vault, 'kleidi', minimalPolicy());
      token = await createToken(vault, ['kleidi']);
      registerSecret('Vault token (security)', token);
      const dir = await scratch('sec-vault');
      const tokenFile = await secretFile(dir, 'token', token);
      const base = { KLEIDI_VAULT_ADDRESS: vault.address };
      const node = new KleidiNode({
        name: 'security-vault-file',
        socket: join(dir, 'kms.sock'),
        stateDir: join(dir, 'state'),
        backend: 'vault',
        env: { ...base, KLEIDI_VAULT_TOKEN_FILE: tokenFile },
      });
      await node.start();
      const dump = procDump(node.pid);
      await node.stop();
      const world = await secretFile(dir, 'token-world', token, 0o644);
      chmodSync(world, 0o644);
      const r = await runCli(
        'security-vault',
        [
          'serve',
          '--backend',
          'vault',
          '--socket',
          join(dir, 'k2.sock'),
          '--state-dir',
          join(dir, 'state'),
          '--http-address',
          '',
        ],
        { ...base, KLEIDI_VAULT_TOKEN_FILE: world },
      );
      const message =
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => !l.startsWith('{'))
          .join(' ') || r.stderr.trim();
      const invariants = {
        'token not in /proc/<pid>/cmdline': !dump.cmdline.includes(token),
        'token not in /proc/<pid>/environ': !dump.environ.includes(token),
        'world-readable token file refused': r.code !== 0 && r.code !== null,
        'message names the file and the fix': message.includes(world) && /chmod/.test(message),
        'token not echoed': !(r.stdout + r.stderr).includes(token),
      };
      record({
        kind: 'security',
        name: 'Vault token: file, /proc, world-readable file refused',
        message: message.slice(0, 300),
        invariants,
      });
      expect(Object.entries(invariants).filter(([, ok]) => !ok)).toEqual([]);
    });
  });

  it('npm audit --omit=dev: no known vulnerability in runtime dependencies, or each one documented', async () => {
    const audit = await run('npm', ['audit', '--omit=dev', '--json'], { cwd: REPO, maxBuffer: 16 << 20 }).then(
      (r) => ({ ok: true as const, out: r.stdout }),
      (e: { stdout?: string; stderr?: string; code?: number }) => ({
        ok: false as const,
        out: e.stdout ?? '',
        err: e.stderr ?? '',
        code: e.code,
      }),
    );
    const exceptions = JSON.parse(readFileSync(join(REPO, 'test/reliability/audit-exceptions.json'), 'utf8')) as {
      advisories: Record<string, string>;
    };
    let parsed: { vulnerabilities?: Record<string, { via: unknown[]; severity: string }>; message?: string } = {};
    try {
      parsed = JSON.parse(audit.out) as typeof parsed;
    } catch {
      parsed = {};
    }
    const tree = JSON.parse(
      (await run('npm', ['ls', '--omit=dev', '--all', '--json'], { cwd: REPO, maxBuffer: 16 << 20 })).stdout,
    ) as NpmTree;
    // Grouped by the backend registry: each backend's libraries and what only they pull in.
    const current = groupRuntimeDeps(tree, backends);
    const runtime = [...new Set([...current.shared, ...Object.values(current.backends).flat()])].sort();
    if (parsed.vulnerabilities) {
      const found = Object.entries(parsed.vulnerabilities).map(([name, v]) => ({ name, severity: v.severity }));
      const undocumented = found.filter((f) => !(f.name in exceptions.advisories));
      record({
        kind: 'audit',
        name: 'npm audit --omit=dev',
        available: true,
        runtimePackages: runtime.length,
        found,
        undocumented,
        invariants: { 'every finding documented': undocumented.length === 0 },
      });
      expect(undocumented).toEqual([]);
      return;
    }
    // The registry refused the audit endpoint (this workplace's registry answers 405 to the bulk
    // advisory POST). Record that, and hold the runtime tree to the reviewed inventory instead, so a
    // new or changed runtime package fails here until someone reviews it (docs/security-checks.md).
    const reviewed = JSON.parse(
      readFileSync(join(REPO, 'test/reliability/runtime-deps.reviewed.json'), 'utf8'),
    ) as RuntimeInventory;
    const drift = inventoryDrift(reviewed, current);
    const added = Object.entries(drift).flatMap(([group, d]) => d.added.map((p) => `${group}: ${p}`));
    const removed = Object.entries(drift).flatMap(([group, d]) => d.removed.map((p) => `${group}: ${p}`));
    const why =
      `${audit.ok ? '' : `exit ${audit.code}: `}${(('err' in audit ? audit.err : '') || parsed.message || audit.out).split('\n').find((l) => l.trim()) ?? ''}`.slice(
        0,
        200,
      );
    record({
      kind: 'audit',
      name: 'npm audit --omit=dev',
      available: false,
      why,
      runtimePackages: runtime.length,
      added,
      removed,
      invariants: {
        'runtime tree equals the reviewed inventory (audit endpoint unavailable)':
          added.length === 0 && removed.length === 0,
      },
    });
    expect({ added, removed }).toEqual({ added: [], removed: [] });
  });
});
