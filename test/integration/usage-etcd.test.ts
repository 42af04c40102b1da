import { spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePki, startEtcdWithClientCerts } from '../support/etcd-pki.js';
import { EtcdServer } from '../support/etcd-server.js';
import { tempDir } from '../support/kleidi-process.js';
import { identityProtobuf, kmsV2Value, prefixedValue } from '../support/stored-values.js';

/**
 * `kleidi usage` against a real etcd (the e2e tests' etcd program, embedded
 * go.etcd.io/etcd/server/v3): the built CLI scans what a test client wrote,
 * in the exact shapes kube-apiserver writes (test/support/stored-values.ts).
 * Values written by a real kube-apiserver are scanned in the end-to-end tests
 * (test/e2e, `npm run test:e2e`).
 */

const KLEIDI_MAIN = resolve(import.meta.dirname, '../../dist/main.js');

/** Runs the built CLI; `stderrSays` resolves once its stderr shows `text` (its progress lines). */
function kleidiRun(args: string[]) {
  const proc = spawn(process.execPath, [KLEIDI_MAIN, ...args], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters) if (stderr.includes(w.text)) w.resolve();
  });
  const result = new Promise<{ code: number | null; stdout: string; stderr: string }>((r) =>
    proc.once('exit', (code) => r({ code, stdout, stderr })),
  );
  return {
    result,
    stderrSays: (text: string) =>
      new Promise<void>((resolve, reject) => {
        if (stderr.includes(text)) resolve();
        else waiters.push({ text, resolve });
        void result.then(() => reject(new Error(`exited before saying ${JSON.stringify(text)}:\n${stderr}`)));
      }),
  };
}

const kleidi = (args: string[]) => kleidiRun(args).result;

interface Report {
  revision: number;
  scanned: number;
  resources: { resource: string; total: number; cells: Record<string, unknown>[] }[];
  keyIds: { keyId: string; count: number; version?: number; current?: boolean }[];
  unusedVersions: { version: number; keyId: string; current: boolean }[];
}

describe('kleidi usage on a real etcd', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let etcd: EtcdServer;
  let stateDir: string;
  let v1 = '';
  let v2 = '';
  let v3 = '';

  beforeAll(async () => {
    tmp = await tempDir('kleidi-usage-');
    stateDir = join(tmp.dir, 'state');
    // Three real key versions of the local backend; data goes under the first two.
    for (const cmd of ['init', 'rotate', 'rotate']) {
      const r = await kleidi([cmd, '--state-dir', stateDir, '--output', 'json']);
      expect(r.code, r.stderr).toBe(0);
    }
    const keys = JSON.parse((await kleidi(['keys', '--state-dir', stateDir, '--output', 'json'])).stdout) as {
      keys: { keyId: string }[];
    };
    [v1, v2, v3] = keys.keys.map((k) => k.keyId) as [string, string, string];
    etcd = new EtcdServer(tmp.dir);
    await etcd.start();
    const puts: Promise<number>[] = [];
    for (let i = 0; i < 700; i++) puts.push(etcd.put(`/registry/secrets/ns${i % 7}/s${i}`, kmsV2Value('kleidi', v1)));
    for (let i = 0; i < 500; i++) puts.push(etcd.put(`/registry/secrets/ns${i % 5}/t${i}`, kmsV2Value('kleidi', v2)));
    for (let i = 0; i < 40; i++) puts.push(etcd.put(`/registry/configmaps/ns/c${i}`, identityProtobuf()));
    for (let i = 0; i < 10; i++) puts.push(etcd.put(`/registry/configmaps/ns/k${i}`, kmsV2Value('kleidi', v2)));
    puts.push(etcd.put('/registry/secrets/old/a', prefixedValue('aescbc:v1', 'key1')));
    puts.push(etcd.put('/registry/secrets/other/b', kmsV2Value('vault-kms', 'vault:v7')));
    puts.push(etcd.put('/registry/secrets/bad/c', new TextEncoder().encode('not a stored object')));
    puts.push(etcd.put('/registry/example.com/widgets/ns/w', identityProtobuf()));
    puts.push(etcd.put('/outside/registry/x', kmsV2Value('kleidi', v1)));
    await Promise.all(puts);
  }, 180_000);

  afterAll(async () => {
    await etcd?.stop();
    await tmp?.cleanup();
  });

  it('counts every object per resource, provider and key_id, names kleidi versions, and writes nothing', async () => {
    const before = await etcd.revision();
    const r = await kleidi([
      'usage',
      '--etcd-servers',
      etcd.url,
      '--state-dir',
      stateDir,
      '--page-size',
      '100',
      '--output',
      'json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(await etcd.revision()).toBe(before); // a read-only scan: etcd's revision did not move
    expect(report.revision).toBe(before);
    expect(report.scanned).toBe(1254);
    const secrets = report.resources.find((x) => x.resource === 'secrets');
    expect(secrets?.total).toBe(1203);
    expect(secrets?.cells).toEqual([
      { kind: 'kms-v2', provider: 'kleidi', keyId: v1, version: 1, current: false, count: 700 },
      { kind: 'kms-v2', provider: 'kleidi', keyId: v2, version: 2, current: false, count: 500 },
      { kind: 'aescbc', provider: 'key1', count: 1 },
      { kind: 'unknown', reason: 'neither an encryption prefix nor a Kubernetes serialization', count: 1 },
      { kind: 'kms-v2', provider: 'vault-kms', keyId: 'vault:v7', count: 1 },
    ]);
    expect(report.resources.map((x) => [x.resource, x.total])).toEqual([
      ['configmaps', 50],
      ['secrets', 1203],
      ['widgets.example.com', 1],
    ]);
    expect(report.keyIds).toEqual([
      { provider: 'kleidi', keyId: v1, count: 700, version: 1, current: false },
      { provider: 'kleidi', keyId: v2, count: 510, version: 2, current: false },
      { provider: 'vault-kms', keyId: 'vault:v7', count: 1 },
    ]);
    expect(report.unusedVersions).toEqual([{ version: 3, keyId: v3, current: true }]);
    expect(r.stdout).not.toContain('not a stored object'); // never a value's bytes
  }, 120_000);

  it('reads one snapshot: objects written during a paced scan are not counted', async () => {
    const run = kleidiRun([
      'usage',
      '--etcd-servers',
      etcd.url,
      '--no-keys',
      '--resources',
      'secrets',
      '--page-size',
      '100',
      '--rate',
      '400', // 1,203 secrets: about three seconds, so the writes below land mid-scan
      '--output',
      'json',
    ]);
    await run.stderrSays('reading etcd at revision'); // the first page is in: the snapshot is fixed
    for (let i = 0; i < 20; i++) await etcd.put(`/registry/secrets/zz/late${i}`, kmsV2Value('kleidi', v2));
    const r = await run.result;
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.scanned).toBe(1203);
    expect(report.keyIds.find((k) => k.keyId === v2)?.count).toBe(500);
    expect(report.keyIds[0]).not.toHaveProperty('version'); // --no-keys: the backend was not opened
  }, 120_000);

  it('says so when etcd compacts the revision a scan reads at', async () => {
    const run = kleidiRun(['usage', '--etcd-servers', etcd.url, '--no-keys', '--page-size', '50', '--rate', '200']);
    await run.stderrSays('reading etcd at revision');
    await etcd.put('/registry/secrets/zz/compact-me', identityProtobuf());
    await etcd.compact(await etcd.revision());
    const r = await run.result;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/compacted revision \d+ while the scan read it; run the scan again/);
  }, 120_000);

  it('names an etcd it cannot reach, and a client key file others may read, without reading it', async () => {
    const gone = await kleidi(['usage', '--etcd-servers', 'http://127.0.0.1:1', '--no-keys']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('etcd at http://127.0.0.1:1 is unavailable');
    const key = join(tmp.dir, 'loose.key');
    await writeFile(key, 'PRIVATE KEY MATERIAL', { mode: 0o644 });
    await chmod(key, 0o644);
    const loose = await kleidi([
      'usage',
      '--etcd-servers',
      'https://127.0.0.1:1',
      '--etcd-certfile',
      key,
      '--etcd-keyfile',
      key,
      '--no-keys',
    ]);
    expect(loose.code).toBe(1);
    expect(loose.stderr).toContain(`etcd client key ${key} has mode 0644`);
    expect(loose.stderr).not.toContain('PRIVATE KEY MATERIAL');
  }, 60_000);
});

describe('kleidi usage on an etcd that requires TLS client certificates, as kubeadm sets it up', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let etcd: EtcdServer;
  let pki: Record<'ca' | 'server' | 'serverKey' | 'client' | 'clientKey' | 'otherCa', string>;

  beforeAll(async () => {
    tmp = await tempDir('kleidi-usage-tls-');
    pki = await makePki(tmp.dir);
    etcd = await startEtcdWithClientCerts(tmp.dir, pki);
    for (let i = 0; i < 30; i++) await etcd.put(`/registry/secrets/ns/s${i}`, kmsV2Value('kleidi', 'local:v1:ab'));
  }, 180_000);

  afterAll(async () => {
    await etcd?.stop();
    await tmp?.cleanup();
  });

  it("scans with kube-apiserver's --etcd-cafile, --etcd-certfile and --etcd-keyfile", async () => {
    const r = await kleidi([
      'usage',
      '--etcd-servers',
      etcd.url,
      '--etcd-cafile',
      pki.ca,
      '--etcd-certfile',
      pki.client,
      '--etcd-keyfile',
      pki.clientKey,
      '--no-keys',
      '--output',
      'json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Report).keyIds).toEqual([{ provider: 'kleidi', keyId: 'local:v1:ab', count: 30 }]);
  }, 60_000);

  it('fails clearly without a client certificate, and with a CA that did not sign the server', async () => {
    const noCert = await kleidi(['usage', '--etcd-servers', etcd.url, '--etcd-cafile', pki.ca, '--no-keys']);
    expect(noCert.code).toBe(1);
    expect(noCert.stderr).toContain(`etcd at ${etcd.url} is unavailable`);
    const wrongCa = await kleidi([
      'usage',
      '--etcd-servers',
      etcd.url,
      '--etcd-cafile',
      pki.otherCa,
      '--etcd-certfile',
      pki.client,
      '--etcd-keyfile',
      pki.clientKey,
      '--no-keys',
    ]);
    expect(wrongCa.code).toBe(1);
    expect(wrongCa.stderr).toContain(`etcd at ${etcd.url} is unavailable`);
  }, 60_000);
});
