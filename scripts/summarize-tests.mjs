// Prints one closing line for a test run, "kleidi: N passed, N failed", from what each step of
// the run left behind, so the line never says "0 failed" for a run that failed:
//   node scripts/summarize-tests.mjs [--step <name>=<exit code>[:<report.json>,…]]… [<report.json>…]
// A step is one command of the run (scripts/test-all.sh: vitest, each backend's proof, the other
// campaigns, the benchmark) with its exit code and the reports it wrote. Reports are vitest's
// (`--reporter=json`: the default suite, a backend's contract suites, a reliability campaign),
// the conformance harness's summaries (`-summary`: scenarios) and the benchmark's JSON (each
// backend group that broke is a failure). A report that is missing, unreadable or of an unknown
// kind counts as one failure; a step that exited non-zero although its reports show no failure
// (a crash after the report was written, an error outside any test) counts as one failure too.
// Reports given without --step belong to a step that exited 0.
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

const steps = [];
const loose = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--step' || a.startsWith('--step=')) {
    const spec = a === '--step' ? args[++i] : a.slice('--step='.length);
    const m = /^([^=]+)=(-?\d+)(?::(.*))?$/.exec(spec ?? '');
    if (!m) {
      console.error(`summarize-tests: --step wants <name>=<exit code>[:<report>,…], got ${spec}`);
      process.exit(2);
    }
    steps.push({ name: m[1], code: Number(m[2]), reports: (m[3] ?? '').split(',').filter(Boolean) });
  } else loose.push(a);
}
if (loose.length) steps.push({ name: 'reports', code: 0, reports: loose });

let passed = 0;
let failed = 0;
let skipped = 0;
const note = (msg) => console.error(`summarize-tests: ${msg}`);
/** The failed tests by name, printed just above the closing line: CI shows a run's tail, not its middle. */
const failedNames = [];

/** How many lines of a failure's message follow its name: enough for the assertion and the output it quotes. */
const WHY_LINES = 6;
const ANSI = new RegExp(`${String.fromCharCode(0x1b)}\\[[0-9;]*m`, 'g');
/** The head of a failure message, indented under the test's name, ANSI colours and stack frames dropped. */
function why(message) {
  const lines = String(message ?? '')
    .replace(ANSI, '')
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^\s+at /.test(l))
    .slice(0, WHY_LINES)
    .map((l) => `\n    ${l.length > 240 ? `${l.slice(0, 240)}…` : l}`);
  return lines.join('');
}

/** Counts one report; returns its failures. */
function count(file) {
  if (!existsSync(file)) {
    note(`no report ${file}; counted as one failure (that step did not finish)`);
    return { passed: 0, failed: 1, skipped: 0 };
  }
  let r;
  try {
    r = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    note(`report ${file} is not JSON (${err.message}); counted as one failure`);
    return { passed: 0, failed: 1, skipped: 0 };
  }
  if (r && typeof r === 'object' && 'numTotalTests' in r) {
    // vitest: a file that failed without a failed test (a hook, an import) fails the run too.
    const files = (r.testResults ?? []).filter(
      (t) => t.status === 'failed' && !(t.assertionResults ?? []).some((a) => a.status === 'failed'),
    ).length;
    for (const t of r.testResults ?? []) {
      const where = relative(process.cwd(), t.name ?? '?');
      for (const a of t.assertionResults ?? []) {
        if (a.status === 'failed') failedNames.push(`${where} > ${a.fullName}${why(a.failureMessages?.[0])}`);
      }
      if (t.status === 'failed' && !(t.assertionResults ?? []).some((a) => a.status === 'failed')) {
        failedNames.push(`${where} (the file failed outside its tests)${why(t.message)}`);
      }
    }
    let f = (r.numFailedTests ?? 0) + files;
    if (!r.success && f === 0) f = 1; // an error outside every file (vitest's unhandled errors)
    return { passed: r.numPassedTests ?? 0, failed: f, skipped: (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0) };
  }
  if (r && typeof r === 'object' && typeof r.passed === 'number' && typeof r.failed === 'number') {
    // The image's checks (scripts/test-image.sh) name themselves; conformance summaries do not.
    for (const c of Array.isArray(r.checks) ? r.checks : []) {
      if (c && c.ok === false) failedNames.push(`image > ${c.name}`);
    }
    return { passed: r.passed, failed: r.failed, skipped: 0 }; // conformance scenarios, image checks
  }
  if (r && typeof r === 'object' && r.backends && typeof r.backends === 'object' && 'goals' in r) {
    // The benchmark: each backend group ran ("ok"), broke ("failed: …") or lacked its server ("skipped: …").
    const statuses = Object.values(r.backends).map((b) => String(b?.status ?? 'failed: no status'));
    for (const [name, b] of Object.entries(r.backends)) {
      if (String(b?.status).startsWith('failed')) note(`benchmark group ${name}: ${b.status}`);
    }
    return {
      passed: statuses.filter((s) => s === 'ok').length,
      failed: statuses.filter((s) => s.startsWith('failed')).length,
      skipped: statuses.filter((s) => s.startsWith('skipped')).length,
    };
  }
  if (r && typeof r === 'object' && Array.isArray(r.results) && 'wallSeconds' in r) {
    // The end-to-end run (test/e2e/run.ts): one result per scenario, Kubernetes version and backend.
    for (const x of r.results) {
      if (!x.ok) failedNames.push(`e2e ${x.kubernetes} ${x.backend} > ${x.scenario}${why(x.error)}`);
    }
    const bad = r.results.filter((x) => !x.ok).length;
    return { passed: r.results.length - bad, failed: r.results.length === 0 ? 1 : bad, skipped: 0 };
  }
  note(`report ${file} is of no kind this script knows; counted as one failure`);
  return { passed: 0, failed: 1, skipped: 0 };
}

for (const step of steps) {
  let stepFailed = 0;
  for (const file of step.reports) {
    const c = count(file);
    passed += c.passed;
    skipped += c.skipped;
    stepFailed += c.failed;
  }
  if (step.code !== 0 && stepFailed === 0) {
    note(`${step.name} exited ${step.code} but its reports show no failure; counted as one failure`);
    stepFailed = 1;
  }
  failed += stepFailed;
}
const SHOWN = 20;
for (const name of failedNames.slice(0, SHOWN)) note(`failed: ${name}`);
if (failedNames.length > SHOWN)
  note(`failed: … and ${failedNames.length - SHOWN} more (the vitest output above names them)`);
console.log(`kleidi: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
