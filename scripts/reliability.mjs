#!/usr/bin/env node
// The reliability and security campaign (docs/reliability.md): `npm run test:reliability`.
//
//   npm run test:reliability                     bounded run (CI): one round of every fault, 100,000 fuzz requests
//   npm run test:reliability -- --soak 30m       soak: repeats each backend's faults for its share of 30 min
//   npm run test:reliability -- --only local,fuzz   some campaign files only (--help lists them)
//   npm run test:reliability -- --fuzz 20000     another fuzz request count
//   --dist <dir>     test this build of kleidi instead of compiling one
//   --out <dir>      the run directory (default .cache/reliability/run); --append keeps what an
//                    earlier run left there, so runs of some campaigns each add up to one report
//                    (the log scan then scans all their logs); the loadgen built there is reused
//   --rest           (with --append) the campaigns that have not run into the run directory yet
//   --json <file>    also write vitest's JSON report (scripts/summarize-tests.mjs counts it)
//   --note <text>    one sentence for the report's header (e.g. what else loaded the machine)
//
// A backend's campaign is the file its registration names (testing.campaign in
// src/composition/backends); the other campaigns are the remaining
// test/reliability/NN-<name>.campaign.ts files. Builds kleidi (npm run build's scripts/build.mjs) and the load client (Go,
// kube-apiserver's own KMSv2 client), prepares the backends' test servers (their harnesses'
// prepare(): SoftHSM2, the Vault test server), runs the campaign files with vitest, and writes
// the report: docs/reliability.md once every campaign has run into the run directory,
// <run dir>/report.md always.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRegistry, requireTypeScript } from './lib/typescript.mjs';

await requireTypeScript(import.meta.url);
const { backends, loadHarness } = await loadRegistry();

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const node = process.execPath;

/** Every campaign by name: the tested backends' files, then the other files under test/reliability. */
const campaigns = new Map(backends.filter((b) => b.testing).map((b) => [b.name, b.testing.campaign]));
for (const f of readdirSync(join(repo, 'test/reliability')).sort()) {
  const file = `test/reliability/${f}`;
  const m = /^\d+-(.+)\.campaign\.ts$/.exec(f);
  if (m && ![...campaigns.values()].includes(file)) campaigns.set(m[1], file);
}
const backendCampaigns = backends.filter((b) => b.testing).map((b) => b.name);

function parseDuration(s) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(s).trim());
  if (!m) throw new Error(`not a duration: ${s} (e.g. 30m, 90s)`);
  return Number(m[1]) * { ms: 1, s: 1e3, m: 60e3, h: 3600e3 }[m[2] ?? 's'];
}

const args = process.argv.slice(2);
let soakMs = 0;
let only = [];
let fuzz = 100_000;
let dist;
let out = resolve(process.env.RELIABILITY_OUT ?? join(repo, '.cache/reliability/run'));
let append = false;
let rest = false;
let json;
let note = '';
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => {
    const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    return v;
  };
  if (a.startsWith('--soak')) soakMs = parseDuration(value());
  else if (a.startsWith('--only')) only = value().split(',').filter(Boolean);
  else if (a.startsWith('--fuzz')) fuzz = Number(value());
  else if (a.startsWith('--dist')) dist = resolve(value());
  else if (a.startsWith('--out')) out = resolve(value());
  else if (a === '--append') append = true;
  else if (a === '--rest') rest = true;
  else if (a.startsWith('--json')) json = resolve(value());
  else if (a.startsWith('--note')) note = value();
  else if (a === '-h' || a === '--help') {
    console.log(
      `usage: npm run test:reliability -- [--soak 30m] [--only ${[...campaigns.keys()].join(',')}] [--fuzz N]\n` +
        '  [--dist <dir>] [--out <dir>] [--append] [--rest] [--json <file>] [--note <text>]',
    );
    process.exit(0);
  } else throw new Error(`unknown argument ${a}`);
}
const unknown = only.filter((o) => !campaigns.has(o));
if (unknown.length)
  throw new Error(`no campaign ${unknown.join(', ')}; campaigns: ${[...campaigns.keys()].join(', ')}`);

// One clock for runs that add up in one directory: the report gives the time since the first.
const startedFile = join(out, 'started-at');
const doneFile = join(out, 'campaigns-run');
if (!append) rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const done = new Set(existsSync(doneFile) ? readFileSync(doneFile, 'utf8').split('\n').filter(Boolean) : []);
const selected = [...campaigns.keys()].filter((c) => (only.length ? only.includes(c) : !rest || !done.has(c)));
if (selected.length === 0) {
  console.log('reliability: every campaign has run into this directory already');
  process.exit(0);
}
if (!existsSync(startedFile)) writeFileSync(startedFile, String(Date.now()));
const t0 = Number(readFileSync(startedFile, 'utf8'));
const mine = Date.now();
const step = (name) => console.log(`\n=== ${name} === (+${Math.round((Date.now() - mine) / 1000)} s)`);
function sh(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { cwd: repo, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`reliability: ${cmd} ${argv.join(' ')} failed (${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

// The campaigns that are not one backend's (the security checks) use every backend's server.
const needed = selected.every((c) => backendCampaigns.includes(c)) ? selected : backendCampaigns;
step(`prerequisites: the test servers of ${needed.join(', ')}`);
for (const name of needed) await (await loadHarness(backends.find((b) => b.name === name))).prepare();
if (!dist) {
  step('build kleidi (into the run directory, so a concurrent build of dist/ cannot change it mid-run)');
  dist = join(repo, '.cache/reliability/dist');
  rmSync(dist, { recursive: true, force: true });
  sh(node, ['scripts/build.mjs', '--out-dir', dist]);
  // kleidi reads its version from the package.json above dist/ (src/composition/version.ts).
  copyFileSync(join(repo, 'package.json'), join(dist, '../package.json'));
}
const loadgen = join(out, 'loadgen');
if (!existsSync(loadgen)) {
  step('build the load client (kube-apiserver KMSv2 client, Go)');
  sh('go', ['build', '-buildvcs=false', '-o', loadgen, '.'], { cwd: join(repo, 'test/reliability/loadgen') });
}

step(`campaign ${selected.join(', ')}${soakMs ? ` (soak ${Math.round(soakMs / 60000)} min)` : ' (bounded)'}`);
const vitest = spawnSync(
  node,
  [
    'node_modules/vitest/vitest.mjs',
    'run',
    '--config',
    'test/reliability/vitest.config.ts',
    ...(json ? ['--reporter=verbose', '--reporter=json', `--outputFile=${json}`] : []),
    ...selected.map((c) => campaigns.get(c)),
  ],
  {
    cwd: repo,
    stdio: 'inherit',
    env: {
      ...process.env,
      RELIABILITY_OUT: out,
      RELIABILITY_LOADGEN: loadgen,
      RELIABILITY_DIST: dist,
      RELIABILITY_SOAK_MS: String(soakMs),
      RELIABILITY_SOAK_BACKENDS: String(selected.filter((c) => backendCampaigns.includes(c)).length),
      RELIABILITY_FUZZ_REQUESTS: String(fuzz),
      RELIABILITY_STARTED_AT: String(t0),
    },
  },
);

step('report');
for (const c of selected) done.add(c);
writeFileSync(doneFile, [...done].join('\n'));
const full = [...campaigns.keys()].every((c) => done.has(c));
const report = join(out, 'report.md');
const r = spawnSync(
  node,
  [
    'scripts/reliability-report.mjs',
    out,
    report,
    String(Date.now() - t0),
    soakMs ? `soak ${Math.round(soakMs / 60000)} min` : 'bounded',
    [...campaigns.keys()].join(','),
    note,
    String(vitest.status ?? 1),
  ],
  { cwd: repo, stdio: 'inherit' },
);
if (r.status === 0 && full && existsSync(report)) {
  copyFileSync(report, join(repo, 'docs/reliability.md'));
  console.log('reliability: every campaign has run; wrote docs/reliability.md');
}
console.log(`reliability: ${Math.round((Date.now() - mine) / 1000)} s; logs, journals and results in ${out}`);
process.exit(vitest.status ?? 1);
