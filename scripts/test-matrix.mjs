// Runs the conformance harness (test/conformance) against kleidi from dist/ once per Kubernetes
// minor of test/conformance/versions.json, each build linking that minor's k8s.io/apiserver and
// k8s.io/kms (test/conformance/build.sh, cached under ~/.cache/kleidi/conformance/<version>/):
//
//   node scripts/test-matrix.mjs                   # every minor (npm run test:matrix builds dist/ first)
//   node scripts/test-matrix.mjs --oldest-newest   # the first and the last minor (scripts/test-all.sh)
//   node scripts/test-matrix.mjs --only 1.29,1.33  # some minors
//   node scripts/test-matrix.mjs --report <file>   # where the JSON report goes (default .cache/matrix/report.json)
//   node scripts/test-matrix.mjs --backend <name>  # another backend than local: its KLEIDI_* settings must be in the environment
//
// Minors are built and run one after the other, newest first (the machine has 2 cores; a cold
// build of one minor compiles k8s.io/apiserver and its dependencies). Prints a table (minor,
// k8s.io/apiserver, passed/failed, seconds), writes the report (summed "passed" and "failed"
// scenarios, which scripts/summarize-tests.mjs reads, and one entry per minor) and exits 1 on any
// failure: a failed scenario, a build that failed, a run without a summary, or a binary that links
// another k8s.io/apiserver than versions.json says.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
};
const known = new Set(['--oldest-newest', '--only', '--report', '--backend']);
for (let i = 0; i < args.length; i++) {
  if (!known.has(args[i])) {
    console.error(`test-matrix: unknown argument ${args[i]} (see the top of scripts/test-matrix.mjs)`);
    process.exit(2);
  }
  if (args[i] !== '--oldest-newest') i++;
}
const report = resolve(opt('--report') ?? join(root, '.cache/matrix/report.json'));
const backend = opt('--backend') ?? 'local';

const { minors } = JSON.parse(readFileSync(join(root, 'test/conformance/versions.json'), 'utf8'));
for (const m of minors) {
  if (!/^1\.\d+$/.test(m.kubernetes) || m.apiserver.replace(/\.\d+$/, '') !== `v0.${m.kubernetes.slice(2)}`) {
    console.error(`test-matrix: versions.json: ${JSON.stringify(m)} is not {kubernetes: "1.N", apiserver: "v0.N.P"}`);
    process.exit(2);
  }
}
let selected = minors;
if (args.includes('--oldest-newest')) selected = [minors[0], minors.at(-1)];
const only = opt('--only');
if (only) {
  const want = only.split(',');
  const unknown = want.filter((w) => !minors.some((m) => m.kubernetes === w));
  if (unknown.length) {
    console.error(`test-matrix: ${unknown.join(', ')} not in test/conformance/versions.json`);
    process.exit(2);
  }
  selected = minors.filter((m) => want.includes(m.kubernetes));
}

/** Runs a command with inherited output; resolves to its exit code and, with `capture`, its stdout. */
function run(cmd, argv, env, capture = false) {
  return new Promise((done) => {
    const child = spawn(cmd, argv, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'],
    });
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
    });
    child.on('close', (code, signal) => done({ code: code ?? (signal ? 128 : 1), out }));
  });
}

const seconds = (t0) => Math.round((performance.now() - t0) / 100) / 10;
const scratch = mkdtempSync(join(tmpdir(), 'kleidi-matrix-'));
const results = [];
const t0 = performance.now();
for (const m of [...selected].reverse()) {
  console.log(`\n--- Kubernetes ${m.kubernetes}: k8s.io/apiserver ${m.apiserver} ---`);
  const r = { ...m, passed: 0, failed: 0, failedScenarios: [], buildS: 0, runS: 0, error: '' };
  results.push(r);
  const b0 = performance.now();
  const build = await run('bash', ['test/conformance/build.sh', m.apiserver], {}, true);
  r.buildS = seconds(b0);
  if (build.code !== 0) {
    r.failed = 1;
    r.error = `build.sh exited ${build.code}`;
    continue;
  }
  const summary = join(scratch, `conformance-${m.kubernetes}.json`);
  const r0 = performance.now();
  const conf = await run('bash', ['test/conformance/run.sh', '-backend', backend], {
    CONFORMANCE_K8S_VERSION: m.apiserver,
    KLEIDI_CONFORMANCE_SUMMARY: summary,
  });
  r.runS = seconds(r0);
  let s;
  try {
    s = JSON.parse(readFileSync(summary, 'utf8'));
  } catch {
    r.failed = 1;
    r.error = `run.sh exited ${conf.code} without a summary`;
    continue;
  }
  r.passed = s.passed;
  r.failed = s.failed;
  r.failedScenarios = s.failedScenarios ?? [];
  r.client = s.client;
  if (!String(s.client).startsWith(`k8s.io/apiserver ${m.apiserver} `)) {
    r.failed++;
    r.error = `the harness links ${s.client}, not ${m.apiserver}`;
  } else if (conf.code !== 0 && r.failed === 0) {
    r.failed = 1;
    r.error = `run.sh exited ${conf.code}`;
  }
}
rmSync(scratch, { recursive: true, force: true });
results.sort((a, b) => Number(a.kubernetes.slice(2)) - Number(b.kubernetes.slice(2)));

const rows = [
  ['minor', 'k8s.io/apiserver', 'result', 'build s', 'run s'],
  ...results.map((r) => [
    r.kubernetes,
    r.apiserver,
    r.failed === 0
      ? `passed ${r.passed}/${r.passed}`
      : `FAILED ${r.failed} of ${r.passed + r.failed}${r.failedScenarios.length ? ` (${r.failedScenarios.join(', ')})` : ''}${r.error ? `: ${r.error}` : ''}`,
    String(r.buildS),
    String(r.runS),
  ]),
];
const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
console.log(`\nconformance matrix (backend ${backend}):`);
for (const row of rows) console.log(`  ${row.map((c, i) => c.padEnd(widths[i])).join('  ')}`.trimEnd());

const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
mkdirSync(dirname(report), { recursive: true });
writeFileSync(
  report,
  `${JSON.stringify(
    {
      kind: 'conformance-matrix',
      backend,
      mode: only ? 'only' : args.includes('--oldest-newest') ? 'oldest-newest' : 'all',
      passed,
      failed,
      durationS: seconds(t0),
      minors: results,
    },
    null,
    2,
  )}\n`,
);
const bad = results.filter((r) => r.failed > 0).map((r) => r.kubernetes);
console.log(
  `conformance matrix: ${results.length - bad.length} of ${results.length} minors passed${bad.length ? ` (failed: ${bad.join(', ')})` : ''} in ${seconds(t0)} s; report ${report}`,
);
process.exit(bad.length ? 1 : 0);
