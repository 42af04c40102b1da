#!/usr/bin/env node
// One backend's whole proof, against its real test server: `npm run test:backend -- <name>`.
//
//   1. its contract suites (KeyWrapper, KeyAdmin; vitest): testing.contract of its registration
//   2. the conformance scenarios (test/conformance, kube-apiserver's KMSv2 client) against kleidi
//      on a fresh test server started by its harness (testing.harness)
//   3. its reliability campaign (testing.campaign, through scripts/reliability.mjs --only <name>)
//
// Options:
//   --only contract,conformance,reliability   some steps only
//   --results <dir>   JSON reports for scripts/summarize-tests.mjs go here, and the campaign adds
//                     to <dir>/reliability (scripts/test-all.sh runs every backend into one directory)
//   --no-build        test dist/ as it is (it must be current: test-all builds it once)
//
// Exits non-zero when any step fails; every step runs even after an earlier one failed. The
// backend list, the files and the way the server starts all come from the registry
// (src/composition/backends), so a new backend needs no edit here.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRegistry, requireTypeScript } from './lib/typescript.mjs';

await requireTypeScript(import.meta.url);
const { backends, backendByName, loadHarness } = await loadRegistry();
const { childEnv } = await import('../test/backends/harness.ts');

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STEPS = ['contract', 'conformance', 'reliability'];
const tested = backends.filter((b) => b.testing).map((b) => b.name);

const args = process.argv.slice(2);
let name;
let steps = STEPS;
let results;
let build = true;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--only') steps = (args[++i] ?? '').split(',').filter(Boolean);
  else if (a === '--results') results = resolve(args[++i] ?? '');
  else if (a === '--no-build') build = false;
  else if (a === '-h' || a === '--help') {
    console.log(
      `usage: npm run test:backend -- <${tested.join('|')}> [--only ${STEPS.join(',')}] [--results <dir>] [--no-build]`,
    );
    process.exit(0);
  } else if (!a.startsWith('-') && name === undefined) name = a;
  else throw new Error(`unknown argument ${a} (--help)`);
}
const def = name === undefined ? undefined : backendByName(name);
if (!def?.testing) {
  console.error(
    name === undefined || !def
      ? `test-backend: name a backend: ${tested.join(', ')}`
      : `test-backend: the ${name} backend declares no test server (testing) in its registration; tested: ${tested.join(', ')}`,
  );
  process.exit(2);
}
const bad = steps.filter((s) => !STEPS.includes(s));
if (bad.length) throw new Error(`unknown step ${bad.join(', ')}; steps: ${STEPS.join(', ')}`);

const t0 = Date.now();
const secs = (since) => Math.round((Date.now() - since) / 1000);
const log = (msg) => console.log(`\n=== test:backend ${def.name}: ${msg} === (+${secs(t0)} s)`);
/** Runs a command with inherited output; resolves with its exit code. */
function sh(cmd, argv, env = process.env) {
  return new Promise((done) => {
    const p = spawn(cmd, argv, { cwd: repo, stdio: 'inherit', env });
    const forward = (sig) => p.kill(sig);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    p.once('error', (err) => {
      console.error(`test-backend: ${cmd}: ${err.message}`);
      process.off('SIGINT', forward).off('SIGTERM', forward);
      done(127);
    });
    p.once('exit', (code, sig) => {
      process.off('SIGINT', forward).off('SIGTERM', forward);
      done(code ?? (sig ? 128 : 1));
    });
  });
}

const out = results ?? (await mkdtemp(join(tmpdir(), `kleidi-test-${def.name}-`)));
await mkdir(out, { recursive: true });
const outcome = [];
async function stepRun(step, fn) {
  if (!steps.includes(step)) return;
  const since = Date.now();
  log(step);
  let rc;
  try {
    rc = await fn();
  } catch (err) {
    console.error(`test-backend: ${step}: ${err.stack ?? err}`);
    rc = 1;
  }
  outcome.push({ step, ok: rc === 0, rc, s: secs(since) });
}

log(`prerequisites (${def.testing.harness})`);
const harness = await loadHarness(def);
await harness.prepare();
if (build && steps.some((s) => s !== 'contract')) {
  log('build kleidi (dist/)');
  const rc = await sh(process.execPath, ['scripts/build.mjs']);
  if (rc !== 0) process.exit(rc);
}

await stepRun('contract', () =>
  sh(process.execPath, [
    'node_modules/vitest/vitest.mjs',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile=${join(out, `contract-${def.name}.json`)}`,
    def.testing.contract,
  ]),
);

await stepRun('conformance', async () => {
  const dir = await mkdtemp(join(tmpdir(), `kleidi-conf-${def.name}-`));
  const server = await harness.start(dir);
  try {
    const envArgs = Object.entries(server.env).flatMap(([k, v]) => ['-env', `${k}=${v}`]);
    // A backend with key material per node gives node-b its own settings and a rotation that reaches both.
    const nodeB = server.conformance
      ? [
          ...Object.entries(server.conformance.nodeBEnv).flatMap(([k, v]) => ['-node-b-env', `${k}=${v}`]),
          ...['-rotate-cmd', server.conformance.rotateCmd],
        ]
      : [];
    return await sh(
      'bash',
      ['test/conformance/run.sh', '-backend', def.name, ...envArgs, ...nodeB],
      childEnv({ KLEIDI_CONFORMANCE_SUMMARY: join(out, `conformance-${def.name}.json`) }),
    );
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

await stepRun('reliability', () =>
  sh(process.execPath, [
    'scripts/reliability.mjs',
    '--only',
    def.name,
    '--dist',
    join(repo, 'dist'),
    '--json',
    join(out, `reliability-${def.name}.json`),
    ...(results ? ['--out', join(results, 'reliability'), '--append'] : []),
  ]),
);

log('summary');
for (const o of outcome) console.log(`  ${o.ok ? 'ok    ' : 'FAILED'} ${o.step} (${o.s} s)`);
if (!results) {
  const reports = outcome.flatMap((o) => ['--step', `${o.step}=${o.rc}:${join(out, `${o.step}-${def.name}.json`)}`]);
  await sh(process.execPath, ['scripts/summarize-tests.mjs', ...reports]);
  await rm(out, { recursive: true, force: true });
}
console.log(`test:backend ${def.name}: ${secs(t0)} s in total`);
process.exit(outcome.every((o) => o.ok) ? 0 : 1);
