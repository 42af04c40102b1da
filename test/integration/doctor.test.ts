import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KleidiProcess, runKleidi, startKleidi, tempDir } from '../support/kleidi-process.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures/doctor');

interface Report {
  ok: boolean;
  checks: { id: string; status: 'pass' | 'fail' | 'skip' | 'warn'; detail: string; fix?: string }[];
}

/**
 * `kleidi doctor` against a running kleidi (local backend, real process) and a kubeadm-shaped
 * kube-apiserver manifest whose hostPath volumes point into the test's directory, so the checks
 * follow --encryption-provider-config and the endpoint through the mounts to real files.
 */
describe('kleidi doctor against a running kleidi (real process)', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let k: KleidiProcess;
  let manifest: string;
  let encDir: string;

  beforeAll(async () => {
    tmp = await tempDir('kleidi-doctor-');
    k = await startKleidi(tmp.dir);
    encDir = join(tmp.dir, 'enc');
    await mkdir(encDir);
    // kubeadm's manifest, with the two hostPaths moved into the test directory.
    manifest = join(tmp.dir, 'kube-apiserver.yaml');
    const kubeadm = await readFile(join(FIXTURES, 'kubeadm/kube-apiserver.yaml'), 'utf8');
    await writeFile(
      manifest,
      kubeadm
        .replace('      path: /etc/kubernetes/enc\n', `      path: ${encDir}\n`)
        .replace('      path: /var/run/kleidi\n', `      path: ${tmp.dir}\n`),
    );
    await writeEncryptionConfig('good.yaml');
  });
  afterAll(async () => {
    await k?.stop();
    await tmp?.cleanup();
  });

  /** One of the EncryptionConfiguration fixtures, where the manifest's mount puts it. */
  const writeEncryptionConfig = async (fixture: string) =>
    writeFile(join(encDir, 'encryption-configuration.yaml'), await readFile(join(FIXTURES, 'encryption', fixture)));

  async function doctor(...extra: string[]): Promise<{ code: number | null; out: string }> {
    const run = runKleidi([
      'doctor',
      '--socket',
      k.socket,
      '--state-dir',
      k.stateDir,
      '--manifest',
      manifest,
      ...extra,
    ]);
    const code = await run.exited;
    return { code, out: run.output() };
  }

  it('passes every check it can make on a correct node, and exits 0 unless the clock is unsynchronised', async () => {
    const { code, out } = await doctor('--output', 'json');
    const report = JSON.parse(out) as Report;
    const status = Object.fromEntries(report.checks.map((c) => [c.id, c.status]));
    expect(status).toMatchObject({
      'socket.exists': 'pass',
      'socket.permissions': 'pass',
      'socket.status': 'pass',
      'backend.config': 'pass',
      'backend.keys': 'pass',
      'apiserver.manifest': 'pass',
      'apiserver.flag': 'pass',
      'apiserver.socket-mount': 'pass',
      'encryption.kms-version': 'pass',
      'encryption.kms-first': 'pass',
      'encryption.timeout': 'pass',
      'encryption.identity-last': 'pass',
      'etcd.provider-name': 'skip',
    });
    // The clock is this host's: doctor asks timedatectl/chronyc, which may be absent (skip) here.
    const clockFailed = status['time.sync'] === 'fail';
    expect(report.ok).toBe(!clockFailed);
    expect(code).toBe(clockFailed ? 1 : 0);
    expect(report.checks.find((c) => c.id === 'socket.status')?.detail).toMatch(/healthz ok.*key_id local:v1:/);
  });

  it('prints one line per check with ✓, ✗ or – when not asked for JSON', async () => {
    const { out } = await doctor('--output', 'text');
    const lines = out.trimEnd().split('\n');
    for (const line of lines.slice(0, -1)) expect(line).toMatch(/^[✓✗–] /);
    expect(lines.at(-1)).toMatch(/^(all checks passed|\d+ checks? failed)$/);
    expect(out).toContain(`✓ socket ${k.socket} exists`);
  });

  it('finds a misconfigured EncryptionConfiguration and a socket opened to its group, exits 1, and passes again once fixed', async () => {
    await writeEncryptionConfig('identity-first.yaml');
    await chmod(k.socket, 0o660);
    try {
      const { code, out } = await doctor('--output', 'json');
      const report = JSON.parse(out) as Report;
      expect(code).toBe(1);
      expect(report.ok).toBe(false);
      const failed = report.checks.filter((c) => c.status === 'fail').map((c) => [c.id, c.fix]);
      expect(failed).toEqual(
        expect.arrayContaining([
          ['socket.permissions', expect.stringMatching(/socketMode 0600/)],
          ['encryption.kms-first', expect.stringMatching(/move the kms provider to the top/)],
          ['encryption.identity-last', expect.stringMatching(/move "- identity: \{\}" to the end/)],
        ]),
      );
    } finally {
      // The fixes doctor named: the mode kleidi applies, and the providers in order.
      await chmod(k.socket, 0o600);
      await writeEncryptionConfig('good.yaml');
    }
    const { out } = await doctor('--output', 'json');
    const again = (JSON.parse(out) as Report).checks.filter((c) => c.status === 'fail' && c.id !== 'time.sync');
    expect(again).toEqual([]);
  });

  it('finds a keyring opened to its group through the backend check, with the chmod that fixes it', async () => {
    const keyring = join(k.stateDir, 'keyring.json');
    await chmod(keyring, 0o640);
    try {
      const { code, out } = await doctor('--output', 'json');
      const keys = (JSON.parse(out) as Report).checks.find((c) => c.id === 'backend.keys');
      expect(code).toBe(1);
      expect(keys).toMatchObject({ status: 'fail', fix: `chmod 600 ${keyring}` });
    } finally {
      await chmod(keyring, 0o600);
    }
  });

  it('warns while a version is staged, naming the promote to run once every node has it, and not after', async () => {
    const staging = runKleidi(['rotate', '--stage', '--state-dir', k.stateDir, '--output', 'json']);
    expect(await staging.exited).toBe(0);
    const { version } = (JSON.parse(staging.output()) as { staged: { version: number } }).staged;
    const { out } = await doctor('--output', 'json');
    const report = JSON.parse(out) as Report;
    expect(report.checks.find((c) => c.id === 'backend.staged')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining(`version ${version}`),
      fix: expect.stringContaining(`kleidi rotate --promote ${version}`),
    });
    // A warning is not a failure: the exit code is as without it.
    expect(report.checks.filter((c) => c.status === 'fail' && c.id !== 'time.sync')).toEqual([]);
    const text = await doctor('--output', 'text');
    expect(text.out).toMatch(new RegExp(`^! local backend: version ${version} .* is staged.* — next: promote it`, 'm'));

    const promoting = runKleidi(['rotate', '--promote', String(version), '--state-dir', k.stateDir]);
    expect(await promoting.exited).toBe(0);
    const after = JSON.parse((await doctor('--output', 'json')).out) as Report;
    expect(after.checks.find((c) => c.id === 'backend.staged')).toBeUndefined();
  });
});
