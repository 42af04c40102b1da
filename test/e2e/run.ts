/**
 * End-to-end tests with a real control plane (docs/testing.md, "End to end"): etcd, kube-apiserver
 * built from the Go module proxy (scripts/setup-control-plane.sh) and kleidi from dist/ as real
 * processes on loopback, driven through the apiserver's REST API, with every stored value read raw
 * from etcd. `npm run test:e2e` builds what is missing and runs this.
 *
 *   node … test/e2e/run.ts [--versions 1.37.2,1.29.6] [--backends local,pkcs11] [--quick]
 *                         [--only rotation,rewrite] [--out .cache/e2e/report.json]
 *
 * Default: every scenario for the local backend and pkcs11 (SoftHSM2) on the newest Kubernetes,
 * for the local backend on the oldest; the long outage (over 3 minutes) on the local backend only,
 * since what it measures is the apiserver's. --quick leaves the long outage out.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { backendByName } from '#src/composition/backends/index.js';
import { loadHarness, REPO, type TestServer } from '../backends/harness.js';
import { ApiServer } from './apiserver.js';
import type { Cluster, ScenarioResult } from './context.js';
import { Etcd } from './etcd.js';
import { KleidiNode } from './kleidi.js';
import { Child } from './process.js';
import { printTable } from './report.js';
import type { Scenario } from './scenario.js';
import { apiserverRestart, kleidiRestart, writeRead } from './scenarios-basic.js';
import { outageLong, outageShort, reload } from './scenarios-outage.js';
import { reencryptResumed } from './scenarios-reencrypt.js';
import { ha, retire, rewrite, rotation } from './scenarios-rotation.js';
import { haTwoPhase } from './scenarios-two-phase.js';

const SCENARIOS: readonly Scenario[] = [
  { name: 'write-read', run: writeRead },
  { name: 'apiserver-restart', run: apiserverRestart },
  { name: 'kleidi-sigterm', run: kleidiRestart('SIGTERM') },
  { name: 'kleidi-sigkill-stale-socket', run: kleidiRestart('SIGKILL') },
  { name: 'rotation', run: rotation },
  { name: 'rewrite', run: rewrite },
  { name: 'reencrypt', run: reencryptResumed },
  { name: 'retire', run: retire },
  { name: 'ha-two-apiservers', run: ha },
  { name: 'ha-two-phase-rotation', run: haTwoPhase },
  { name: 'outage-short-health', run: outageShort },
  { name: 'reload-switch-provider', run: reload },
  { name: 'outage-long', run: outageLong, slow: true },
];

const { values: opts } = parseArgs({
  options: {
    versions: { type: 'string' },
    backends: { type: 'string', default: 'local,pkcs11' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: join(REPO, '.cache/e2e/report.json') },
    keep: { type: 'boolean', default: false },
  },
});

const cache = process.env.KLEIDI_CONTROL_PLANE_CACHE ?? join(homedir(), '.cache/kleidi/control-plane');
const versions = (opts.versions ?? '1.37.2,1.29.6').split(',');
const backends = opts.backends.split(',');
const only = opts.only?.split(',');

/** The (version, backend) pairs to run: every backend on the newest version, the first one on the others. */
const pairs = versions.flatMap((v, i) => (i === 0 ? backends : backends.slice(0, 1)).map((b) => [v, b] as const));

function selected(s: Scenario, backend: string): boolean {
  if (only) return only.includes(s.name);
  if (s.slow) return !opts.quick && backend === backends[0];
  return true;
}

async function runPair(version: string, backend: string, results: ScenarioResult[]): Promise<void> {
  const def = backendByName(backend);
  if (!def) throw new Error(`unknown backend ${backend}`);
  // Short path: unix socket paths must stay under 108 bytes (sun_path).
  const dir = await mkdtemp(join(tmpdir(), 'kleidi-e2e.'));
  const harness = await loadHarness(def);
  await harness.prepare();
  let server: TestServer | undefined;
  const etcd = new Etcd(join(cache, 'etcd'), dir);
  try {
    server = await harness.start(join(dir, 'server'));
    const env = server.env;
    const kleidi = new KleidiNode('kleidi-a', dir, backend, env);
    if (backend === 'local') await kleidi.init();
    await etcd.start();
    const bin = join(cache, version, 'kube-apiserver');
    const api = new ApiServer('apiserver-a', bin, dir, etcd.url);
    const c: Cluster = {
      dir,
      kubernetes: version,
      backend,
      apiserverBin: bin,
      etcd,
      api,
      kleidi,
      written: new Map(),
      provider: 'kleidi',
      newKleidi: async (name) => {
        const node = new KleidiNode(name, dir, backend, env);
        await node.copyKeyringIfLocal(kleidi);
        return node;
      },
      newApiServer: async (name, node) => {
        const other = new ApiServer(name, bin, dir, etcd.url);
        await other.writeConfig([{ name: c.provider, socket: node.socket }]);
        return other;
      },
    };
    await kleidi.start();
    await api.writeConfig([{ name: 'kleidi', socket: kleidi.socket }]);
    await api.start();
    for (const s of SCENARIOS) {
      if (!selected(s, backend)) continue;
      const r: ScenarioResult = { scenario: s.name, kubernetes: version, backend, ok: false, seconds: 0, figures: {} };
      const t0 = performance.now();
      process.stdout.write(`e2e: ${version} ${backend} ${s.name} … `);
      try {
        if (!kleidi.running) await kleidi.start();
        if (!api.running) await api.start();
        await s.run(c, r.figures);
        r.ok = true;
      } catch (err) {
        r.error = (err as Error).message.slice(0, 2000);
      }
      r.seconds = Math.round((performance.now() - t0) / 100) / 10;
      results.push(r);
      process.stdout.write(`${r.ok ? 'ok' : 'FAILED'} (${r.seconds} s)${r.error ? `\n  ${r.error}` : ''}\n`);
    }
  } finally {
    Child.killAll();
    await etcd.stop().catch(() => {});
    await server?.stop().catch(() => {});
    if (opts.keep) console.log(`e2e: kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const results: ScenarioResult[] = [];
  const t0 = performance.now();
  // Builds kube-apiserver for each version and the etcd program, or reuses the cached binaries.
  const setup = spawnSync('bash', ['scripts/setup-control-plane.sh', ...versions], { cwd: REPO, stdio: 'inherit' });
  if (setup.status !== 0) throw new Error(`scripts/setup-control-plane.sh failed (${setup.status ?? setup.signal})`);
  const setupSeconds = Math.round((performance.now() - t0) / 1000);
  for (const [version, backend] of pairs) {
    try {
      await runPair(version, backend, results);
    } catch (err) {
      results.push({
        scenario: 'setup',
        kubernetes: version,
        backend,
        ok: false,
        seconds: 0,
        figures: {},
        error: (err as Error).message.slice(0, 2000),
      });
      console.log(`e2e: ${version} ${backend} setup FAILED: ${(err as Error).message}`);
    }
  }
  const out = resolve(opts.out);
  await mkdir(dirname(out), { recursive: true });
  const report = { wallSeconds: Math.round((performance.now() - t0) / 1000), setupSeconds, quick: opts.quick, results };
  await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
  printTable(results);
  const failed = results.filter((r) => !r.ok).length;
  console.log(`e2e: report in ${out}, wall time ${report.wallSeconds} s`);
  console.log(`${results.length - failed} passed, ${failed} failed`);
  return failed === 0 && results.length > 0 ? 0 : 1;
}

process.on('exit', () => Child.killAll());
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    Child.killAll();
    process.exit(130);
  });
process.exitCode = await main();
