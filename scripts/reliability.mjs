#!/usr/bin/env node
// The reliability and security campaign (issue 8): `npm run test:reliability`.
//
//   npm run test:reliability                     bounded run (CI): one round of every fault, 100,000 fuzz requests
//   npm run test:reliability -- --soak 30m       soak: repeats each backend's faults for its share of 30 min
//   npm run test:reliability -- --only local,fuzz   some campaign files only (local|pkcs11|vault|fuzz|security|log-scan)
//   npm run test:reliability -- --fuzz 20000     another fuzz request count
//
// Builds kleidi (tsc) and the load client (Go, kube-apiserver's own KMSv2
// client), makes sure SoftHSM2 and the Vault test server are there, runs the
// campaign files under test/reliability with vitest, and writes the report:
// docs/reliability.md after a full run, .cache/reliability/run/report.md always.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.env.RELIABILITY_OUT ?? join(repo, '.cache/reliability/run'));
const node = process.execPath;

function parseDuration(s) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(s).trim());
  if (!m) throw new Error(`not a duration: ${s} (e.g. 30m, 90s)`);
  return Number(m[1]) * { ms: 1, s: 1e3, m: 60e3, h: 3600e3 }[m[2] ?? 's'];
}

const args = process.argv.slice(2);
let soakMs = 0;
let only = [];
let fuzz = 100_000;
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
  else if (a === '-h' || a === '--help') {
    console.log(
      'usage: npm run test:reliability -- [--soak 30m] [--only local,pkcs11,vault,fuzz,security,log-scan] [--fuzz N]',
    );
    process.exit(0);
  } else throw new Error(`unknown argument ${a}`);
}

const t0 = Date.now();
const step = (name) => console.log(`\n=== ${name} === (+${Math.round((Date.now() - t0) / 1000)} s)`);
function sh(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { cwd: repo, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`reliability: ${cmd} ${argv.join(' ')} failed (${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

step('prerequisites: SoftHSM2, Vault test server');
sh('bash', ['scripts/setup-softhsm.sh']);
sh('bash', ['scripts/setup-vault-server.sh'], { stdio: ['ignore', 'ignore', 'inherit'] });
step('build kleidi (into the run directory, so a concurrent build of dist/ cannot change it mid-run)');
const dist = join(repo, '.cache/reliability/dist');
rmSync(dist, { recursive: true, force: true });
sh(node, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', dist]);
// dist/composition/version.js reads ../../package.json (kleidi's version).
copyFileSync(join(repo, 'package.json'), join(dist, '../package.json'));
step('build the load client (kube-apiserver KMSv2 client, Go)');
sh('go', ['build', '-buildvcs=false', '-o', join(out, 'loadgen'), '.'], {
  cwd: join(repo, 'test/reliability/loadgen'),
});

step(`campaign${soakMs ? ` (soak ${Math.round(soakMs / 60000)} min)` : ' (bounded)'}`);
const filters = only.map((o) => `${o}.campaign`);
const vitest = spawnSync(
  node,
  ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/reliability/vitest.config.ts', ...filters],
  {
    cwd: repo,
    stdio: 'inherit',
    env: {
      ...process.env,
      RELIABILITY_OUT: out,
      RELIABILITY_LOADGEN: join(out, 'loadgen'),
      RELIABILITY_DIST: dist,
      RELIABILITY_SOAK_MS: String(soakMs),
      RELIABILITY_SOAK_BACKENDS: String(
        only.length ? only.filter((o) => ['local', 'pkcs11', 'vault'].includes(o)).length : 3,
      ),
      RELIABILITY_FUZZ_REQUESTS: String(fuzz),
      RELIABILITY_STARTED_AT: String(t0),
    },
  },
);

step('report');
const full = only.length === 0;
const report = join(out, 'report.md');
const r = spawnSync(
  node,
  [
    'scripts/reliability-report.mjs',
    out,
    report,
    String(Date.now() - t0),
    soakMs ? `soak ${Math.round(soakMs / 60000)} min` : 'bounded',
  ],
  {
    cwd: repo,
    stdio: 'inherit',
  },
);
if (r.status === 0 && full && existsSync(report)) {
  copyFileSync(report, join(repo, 'docs/reliability.md'));
  console.log('reliability: wrote docs/reliability.md');
}
console.log(`reliability: ${Math.round((Date.now() - t0) / 1000)} s in total; logs, journals and results in ${out}`);
process.exit(vitest.status ?? 1);
