import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePki, startEtcdWithClientCerts } from '../support/etcd-pki.js';
import { EtcdServer } from '../support/etcd-server.js';
import { startKleidi, tempDir } from '../support/kleidi-process.js';
import { identityProtobuf, kmsV2Value } from '../support/stored-values.js';

/**
 * `kleidi retire` as a real process, with the local backend's keyring and a
 * real etcd holding values in the shapes kube-apiserver writes
 * (test/support/stored-values.ts): the gate refuses while the scan shows
 * objects under the version, and retires once they are rewritten.
 */

const KLEIDI_MAIN = resolve(import.meta.dirname, '../../dist/main.js');

function kleidi(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [KLEIDI_MAIN, ...args], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((r) => proc.once('exit', (code) => r({ code, stdout, stderr })));
}

interface Verdict {
  backend: string;
  version: number;
  keyId?: string;
  retired: boolean;
  action?: string;
  backup?: string;
  refusals?: Record<string, unknown>[];
  overridden?: Record<string, unknown>[];
  scan?: { revision: number; scannedAt: string; onlyResources: string[] };
}

const SECRETS_UNDER_V1 = 300;
const SECRETS_UNDER_V2 = 40;

describe('kleidi retire on a real etcd, with the local keyring', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let etcd: EtcdServer;
  let stateDir: string;
  let keyring: string;
  const ids: string[] = [];

  const keyIds = async () =>
    (
      JSON.parse((await kleidi(['keys', '--state-dir', stateDir, '--output', 'json'])).stdout) as {
        keys: { keyId: string; version: number }[];
      }
    ).keys.map((k) => k.version);
  const retire = (...args: string[]) => kleidi(['retire', ...args, '--state-dir', stateDir]);
  const scanNow = () => ['--etcd-servers', etcd.url, '--page-size', '100'];

  beforeAll(async () => {
    tmp = await tempDir('kleidi-retire-');
    stateDir = join(tmp.dir, 'state');
    keyring = join(stateDir, 'keyring.json');
    for (const cmd of ['init', 'rotate', 'rotate']) {
      const r = await kleidi([cmd, '--state-dir', stateDir, '--output', 'json']);
      expect(r.code, r.stderr).toBe(0);
    }
    const keys = JSON.parse((await kleidi(['keys', '--state-dir', stateDir, '--output', 'json'])).stdout) as {
      keys: { keyId: string }[];
    };
    ids.push(...keys.keys.map((k) => k.keyId));
    etcd = new EtcdServer(tmp.dir);
    await etcd.start();
    const puts: Promise<number>[] = [];
    for (let i = 0; i < SECRETS_UNDER_V1; i++)
      puts.push(etcd.put(`/registry/secrets/ns${i % 3}/old${i}`, kmsV2Value('kleidi', ids[0]!)));
    for (let i = 0; i < SECRETS_UNDER_V2; i++)
      puts.push(etcd.put(`/registry/secrets/ns/mid${i}`, kmsV2Value('kleidi', ids[1]!)));
    for (let i = 0; i < 200; i++) puts.push(etcd.put(`/registry/secrets/ns/new${i}`, kmsV2Value('kleidi', ids[2]!)));
    for (let i = 0; i < 20; i++) puts.push(etcd.put(`/registry/configmaps/ns/c${i}`, identityProtobuf()));
    await Promise.all(puts);
  }, 180_000);

  afterAll(async () => {
    await etcd?.stop();
    await tmp?.cleanup();
  });

  it('refuses while objects remain under the version: shows the count, exits 3, keyring unchanged', async () => {
    const before = await readFile(keyring);
    const revision = await etcd.revision();
    const text = await retire('1', ...scanNow(), '--output', 'text');
    expect(text.code, text.stderr).toBe(3);
    expect(text.stdout).toMatch(new RegExp(`secrets +kms-v2 +kleidi +${ids[0]} +1 +${SECRETS_UNDER_V1}\\n`));
    expect(text.stdout).toContain(`refused: version 1 (${ids[0]}) of backend local was not retired; nothing changed`);
    expect(text.stdout).toContain(
      `${SECRETS_UNDER_V1} objects are still stored under ${ids[0]} (secrets ${SECRETS_UNDER_V1})`,
    );

    const json = await retire('1', ...scanNow(), '--output', 'json');
    expect(json.code, json.stderr).toBe(3);
    const v = JSON.parse(json.stdout) as Verdict;
    expect(v).toMatchObject({ backend: 'local', version: 1, keyId: ids[0], retired: false });
    expect(v.refusals).toEqual([
      {
        kind: 'objects-remaining',
        keyId: ids[0],
        count: SECRETS_UNDER_V1,
        resources: [{ resource: 'secrets', count: SECRETS_UNDER_V1 }],
      },
    ]);
    expect(v.scan?.onlyResources).toEqual([]);
    expect(Math.abs(Date.parse(v.scan?.scannedAt ?? '') - Date.now())).toBeLessThan(120_000);
    expect(await readFile(keyring)).toEqual(before);
    expect(await etcd.revision()).toBe(revision); // the scan wrote nothing
  }, 120_000);

  it('refuses the current version at once, even with --force', async () => {
    const before = await readFile(keyring);
    const r = await retire('3', ...scanNow(), '--force', '--output', 'json');
    expect(r.code, r.stderr).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ retired: false, refusals: [{ kind: 'current' }] });
    expect(await readFile(keyring)).toEqual(before);
  }, 60_000);

  it('refuses a saved scan older than --max-scan-age, even with --force', async () => {
    const saved = await kleidi(['usage', '--etcd-servers', etcd.url, '--state-dir', stateDir, '--output', 'json']);
    expect(saved.code, saved.stderr).toBe(0);
    const report = JSON.parse(saved.stdout) as { scannedAt: string };
    const file = join(tmp.dir, 'scan.json');
    const twentyMinutesAgo = new Date(Date.parse(report.scannedAt) - 20 * 60_000).toISOString();
    await writeFile(file, JSON.stringify({ ...report, scannedAt: twentyMinutesAgo }));
    const before = await readFile(keyring);
    const r = await retire('2', '--scan', file, '--force', '--output', 'json');
    expect(r.code, r.stderr).toBe(3);
    const v = JSON.parse(r.stdout) as Verdict;
    expect(v.refusals?.map((x) => x.kind)).toEqual(['scan-too-old', 'objects-remaining']);
    expect(v.refusals?.[0]).toMatchObject({ maxAgeMs: 15 * 60_000 });
    expect(await readFile(keyring)).toEqual(before);
  }, 60_000);

  it('fails clearly when etcd cannot be reached or the client key is loose, and retires nothing', async () => {
    const before = await readFile(keyring);
    const gone = await retire('1', '--etcd-servers', 'http://127.0.0.1:1');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('etcd at http://127.0.0.1:1 is unavailable');
    const key = join(tmp.dir, 'loose.key');
    await writeFile(key, 'PRIVATE KEY MATERIAL', { mode: 0o644 });
    await chmod(key, 0o644);
    const loose = await retire(
      '1',
      '--etcd-servers',
      'https://127.0.0.1:1',
      '--etcd-certfile',
      key,
      '--etcd-keyfile',
      key,
    );
    expect(loose.code).toBe(1);
    expect(loose.stderr).toContain(`etcd client key ${key} has mode 0644`);
    expect(loose.stderr + loose.stdout).not.toContain('PRIVATE KEY MATERIAL');
    expect(await readFile(keyring)).toEqual(before);
  }, 60_000);

  // From here on the local backend's KeyAdmin.retire does the work (it writes a backup, then drops the entry).
  it('retires once the objects are rewritten under the current version, after a backup', async () => {
    for (let i = 0; i < SECRETS_UNDER_V1; i++)
      await etcd.put(`/registry/secrets/ns${i % 3}/old${i}`, kmsV2Value('kleidi', ids[2]!));
    const before = await readFile(keyring);
    // This node's running plugin (serving the keyring the command changes) has v3 as current.
    const serving = await startKleidi(tmp.dir);
    const r = await retire('1', ...scanNow(), '--socket', serving.socket, '--output', 'json').finally(() =>
      serving.stop(),
    );
    expect(r.code, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as Verdict;
    expect(v).toMatchObject({ backend: 'local', version: 1, keyId: ids[0], retired: true, overridden: [] });
    expect(v.action).toBe('removed from the keyring');
    expect(v.backup).toBeDefined();
    expect(await readFile(v.backup!)).toEqual(before);
    expect((await stat(v.backup!)).mode & 0o777).toBe(0o600);
    expect(await keyIds()).toEqual([2, 3]);
    const again = await retire('1', ...scanNow(), '--output', 'json');
    expect(again.code).toBe(3);
    expect(JSON.parse(again.stdout)).toMatchObject({ refusals: [{ kind: 'unknown-version' }] });
  }, 120_000);

  it('--force retires although objects remain, and says which it gave up', async () => {
    const r = await retire('2', ...scanNow(), '--force', '--output', 'text');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`retired version 2 (${ids[1]}) of backend local`);
    expect(r.stdout).toMatch(/action +removed from the keyring\n/);
    expect(r.stdout).toContain(
      `--force set aside: ${SECRETS_UNDER_V2} objects stored under ${ids[1]} (secrets ${SECRETS_UNDER_V2}) can no longer be read`,
    );
    const backup = /backup +(\S+)\n/.exec(r.stdout)?.[1];
    expect(backup !== undefined && existsSync(backup)).toBe(true);
    expect(await keyIds()).toEqual([3]);
  }, 120_000);
});

describe('kleidi retire on an etcd that requires TLS client certificates', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let etcd: EtcdServer;
  let pki: Awaited<ReturnType<typeof makePki>>;
  let stateDir: string;

  beforeAll(async () => {
    tmp = await tempDir('kleidi-retire-tls-');
    stateDir = join(tmp.dir, 'state');
    for (const cmd of ['init', 'rotate']) expect((await kleidi([cmd, '--state-dir', stateDir])).code).toBe(0);
    pki = await makePki(tmp.dir);
    etcd = await startEtcdWithClientCerts(tmp.dir, pki);
  }, 180_000);

  afterAll(async () => {
    await etcd?.stop();
    await tmp?.cleanup();
  });

  it('with a CA that did not sign the server, or without a client certificate: a clear message, nothing retired', async () => {
    const keyring = join(stateDir, 'keyring.json');
    const before = await readFile(keyring);
    const wrongCa = await kleidi([
      'retire',
      '1',
      '--state-dir',
      stateDir,
      '--etcd-servers',
      etcd.url,
      '--etcd-cafile',
      pki.otherCa,
      '--etcd-certfile',
      pki.client,
      '--etcd-keyfile',
      pki.clientKey,
    ]);
    expect(wrongCa.code).toBe(1);
    expect(wrongCa.stderr).toContain(`etcd at ${etcd.url} is unavailable`);
    const noCert = await kleidi([
      'retire',
      '1',
      '--state-dir',
      stateDir,
      '--etcd-servers',
      etcd.url,
      '--etcd-cafile',
      pki.ca,
    ]);
    expect(noCert.code).toBe(1);
    expect(noCert.stderr).toContain(`etcd at ${etcd.url} is unavailable`);
    expect(await readFile(keyring)).toEqual(before);
  }, 60_000);
});

describe('kleidi retire --socket: a node whose plugin has not picked up the rotation', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    tmp = await tempDir('kleidi-retire-late-');
  });
  afterAll(async () => tmp?.cleanup());

  it('refuses while the plugin still reports the version as current, before any scan', async () => {
    const admin = join(tmp.dir, 'admin', 'state');
    const late = join(tmp.dir, 'late');
    expect((await kleidi(['init', '--state-dir', admin])).code).toBe(0);
    // The late node holds the keyring as it was before the rotation.
    execFileSync('mkdir', ['-m', '0700', late]);
    execFileSync('cp', ['-a', admin, join(late, 'state')]);
    expect((await kleidi(['rotate', '--state-dir', admin])).code).toBe(0);
    const before = await readFile(join(admin, 'keyring.json'));
    const node = await startKleidi(late);
    try {
      // No etcd at that address: the refusal comes from the plugin's answer, before any scan.
      const r = await kleidi([
        'retire',
        '1',
        '--state-dir',
        admin,
        '--etcd-servers',
        'http://127.0.0.1:1',
        '--socket',
        node.socket,
        '--output',
        'text',
      ]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stdout).toMatch(
        new RegExp(`the plugin at ${node.socket} still reports version 1 \\(local:v1:[0-9a-f]+\\) as current`),
      );
    } finally {
      await node.stop();
    }
    expect(await readFile(join(admin, 'keyring.json'))).toEqual(before);
  }, 60_000);
});
