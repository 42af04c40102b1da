// `npm run bench:usage -- [objects]`: the rate and peak memory of `kleidi usage` on a real etcd
// (the e2e tests' etcd program, `bash scripts/setup-control-plane.sh --etcd`) holding `objects`
// Secrets (default 200,000) in the shapes kube-apiserver writes: a third under each of two KMSv2
// key_ids, a third unencrypted. Prints figures; asserts nothing (docs/operations.md quotes them).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EtcdServer } from '../../test/support/etcd-server.ts';
import { identityProtobuf, kmsV2Value } from '../../test/support/stored-values.ts';

const N = Number(process.argv[2] ?? 200_000);
const MAIN = resolve(import.meta.dirname, '../../dist/main.js');
const dir = mkdtempSync(join(tmpdir(), 'kleidi-bench-usage-'));
const etcd = new EtcdServer(dir);
await etcd.start();
try {
  const t0 = performance.now();
  const values = [kmsV2Value('kleidi', 'local:v1:aaaa'), kmsV2Value('kleidi', 'local:v2:bbbb'), identityProtobuf()];
  let next = 0;
  // 64 writers: etcd batches concurrent puts; one at a time would take minutes for 200,000.
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      for (let k = next++; k < N; k = next++)
        await etcd.put(`/registry/secrets/ns${k % 100}/s${k}`, values[k % 3] ?? values[0]!);
    }),
  );
  console.log(`etcd: ${N} objects written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  for (const rate of ['10000000', '5000']) {
    // GNU time's %M: the process's peak resident set (KiB), what a node's memory limit meets.
    const p = spawn(
      '/usr/bin/time',
      [
        '-f',
        '%M',
        process.execPath,
        MAIN,
        'usage',
        '--etcd-servers',
        etcd.url,
        '--no-keys',
        '--rate',
        rate,
        '--output',
        'json',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => p.once('exit', r));
    if (code !== 0) throw new Error(`kleidi usage exited ${code}: ${err}`);
    const report = JSON.parse(out) as { scanned: number; elapsedMs: number };
    const rssMiB = Number(err.trim().split('\n').at(-1)) / 1024;
    const label = rate === '10000000' ? 'unpaced' : `--rate ${rate}`;
    console.log(
      `kleidi usage ${label}: ${report.scanned} objects in ${(report.elapsedMs / 1000).toFixed(1)} s = ${Math.round(report.scanned / (report.elapsedMs / 1000))} keys/s, peak RSS ${rssMiB.toFixed(0)} MiB`,
    );
  }
} finally {
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
}
