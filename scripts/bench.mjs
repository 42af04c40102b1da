#!/usr/bin/env node
// kleidi's benchmark (docs/benchmarks.md explains the method).
//
//   npm run bench                 full run: JSON in .cache/bench/full.json, regenerates docs/benchmarks.md
//   npm run bench -- --quick      at most ~3 minutes (CI): .cache/bench/quick.json, docs untouched
//
// Options: --quick | --duration <ms> | --reps <n> | --concurrency 1,16,64 |
//   --backends local,pkcs11 (default: every backend with a test server) |
//   --label <name> (.cache/bench/<name>.json) | --storm-reps <n> |
//   --no-docs | --node-arg <arg> (repeatable; e.g. --cpu-prof for the kleidi servers) |
//   --ab <name>[,<name>…] (also run earlier builds, interleaved, and report current ÷ each) |
//   --snapshot <name> (copy the current dist/ to bench/.ab/<name> for a later --ab, then exit) |
//   --from-json <file> (measure nothing: regenerate docs/benchmarks.md and its charts from a full run's JSON)
//
// Load comes from the conformance harness's load mode, i.e. kube-apiserver's
// own KMSv2 client (kmsv2.NewGRPCService from k8s.io/apiserver). Each backend
// runs kleidi against a baseline in the same run, interleaved (kleidi then
// baseline, then the other way round), and ratios are taken per pair, so a
// noisy shared machine moves both sides alike. Figures are printed, never
// asserted: the exit code is non-zero only when the benchmark itself broke.
// The groups are the backends of the registry (src/composition/backends) that
// have a test server; each one's harness (test/backends/<name>.harness.ts)
// starts that server and names the baseline (BackendHarness.bench).
import { cp, mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { goals, markdown, median, OPS, printReport, ratios, summarise } from '../bench/lib/report.mjs';
import { cpuSeconds, httpCall, initClock, loadAverage, memory, run, runJson } from '../bench/lib/proc.mjs';
import {
  abMain,
  baseEnv,
  buildTools,
  initState,
  KLEIDI_MAIN,
  REPO,
  startGoReference,
  startKleidi,
} from '../bench/lib/targets.mjs';
import { loadRegistry, requireTypeScript } from './lib/typescript.mjs';

await requireTypeScript(import.meta.url);
const { backends, backendByName, loadHarness } = await loadRegistry();
const opts = parseArgs(process.argv.slice(2));
const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

function parseArgs(argv) {
  const tested = backends.filter((b) => b.testing).map((b) => b.name);
  const o = { quick: false, backends: tested, docs: true, nodeArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--duration') o.durationMs = Number(next());
    else if (a === '--reps') o.reps = Number(next());
    else if (a === '--storm-reps') o.stormReps = Number(next());
    else if (a === '--concurrency') o.concurrency = next().split(',').map(Number);
    else if (a === '--backends') o.backends = next().split(',');
    else if (a === '--label') o.label = next();
    else if (a === '--no-docs') o.docs = false;
    else if (a === '--node-arg') o.nodeArgs.push(next());
    else if (a === '--ab') o.ab = next().split(',');
    else if (a === '--snapshot') o.snapshot = next();
    else if (a === '--from-json') o.fromJson = next();
    else throw new Error(`unknown option ${a} (see the header of scripts/bench.mjs)`);
  }
  const unknown = o.backends.filter((b) => !tested.includes(b));
  if (unknown.length) throw new Error(`--backends: ${unknown.join(', ')} has no test server; these do: ${tested}`);
  const preset = o.quick
    ? { durationMs: 1500, reps: 1, warmupMs: 1000, startupRepeat: 3, stormSeeds: 1000, stormReps: 1 }
    : { durationMs: 6000, reps: 3, warmupMs: 3000, startupRepeat: 7, stormSeeds: 1000, stormReps: 3 };
  return { ...preset, concurrency: [1, 16, 64], ...o, kind: o.label ?? (o.quick ? 'quick' : 'full') };
}

async function machine() {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return {
    nproc: availableParallelism(),
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown',
    memory_bytes: totalmem(),
    kernel: release(),
  };
}

async function versions(tools) {
  const pkg = async (p) => JSON.parse(await readFile(join(REPO, p), 'utf8')).version;
  const goMod = await readFile(join(REPO, 'test/conformance/go.mod'), 'utf8');
  const mod = (name) => new RegExp(`^\\s*${name.replace(/\./g, '\\.')} (v\\S+)`, 'm').exec(goMod)?.[1] ?? '?';
  const out = async (cmd, args, opt) =>
    (await run(cmd, args, opt).catch(() => ({ stdout: '' }))).stdout.trim().split('\n')[0] || '?';
  const git = await out('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']);
  const dirty = (
    await run('git', ['-C', REPO, 'status', '--porcelain', '--', 'src']).catch(() => ({ stdout: '' }))
  ).stdout.trim()
    ? '+uncommitted src changes'
    : '';
  return {
    kleidi: `${await pkg('package.json')} (${git}${dirty})`,
    node: process.version,
    go: (await out('go', ['version'])).replace(/^go version /, ''),
    'k8s.io/apiserver (client)': mod('k8s.io/apiserver'),
    'k8s.io/kms (Go reference)': mod('k8s.io/kms'),
    'grpc-go': mod('google.golang.org/grpc'),
    '@grpc/grpc-js': await pkg('node_modules/@grpc/grpc-js/package.json'),
    // The client libraries of the backends measured (their registrations' `libraries`).
    ...Object.fromEntries(
      await Promise.all(
        opts.backends
          .flatMap((b) => backendByName(b)?.libraries ?? [])
          .map(async (lib) => [lib, await pkg(`node_modules/${lib}/package.json`)]),
      ),
    ),
    harness: tools.harness ? 'test/conformance -mode load|startup|storm' : '?',
  };
}

// ---------------------------------------------------------------- measuring

/**
 * prom-client samples the loop with monitorEventLoopDelay every 10 ms
 * (eventLoopMonitoringPrecision) and its histogram records the time between
 * samples, so an idle process reports p99 ≈ 10.1 ms. The delay is that minus
 * the interval.
 */
const LOOP_SAMPLE_MS = 10;

/** Event-loop delay from kleidi's /metrics (prom-client resets its histogram on every scrape). */
async function scrapeLoop(target) {
  if (!target.metricsUrl) return undefined;
  const r = await httpCall(target.metricsUrl);
  const g = (name) =>
    Math.max(0, Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(r.text)?.[1]) * 1000 - LOOP_SAMPLE_MS);
  return { p99: g('nodejs_eventloop_lag_p99_seconds'), max: g('nodejs_eventloop_lag_max_seconds') };
}

async function harnessLoad(tools, work, target, op, concurrency, durationMs) {
  return runJson(tools.harness, [
    '-work-dir',
    join(work, 'harness'),
    '-mode',
    'load',
    '-attach',
    `unix://${target.socket}`,
    '-op',
    op,
    '-concurrency',
    String(concurrency),
    '-duration',
    `${durationMs}ms`,
    '-backend',
    target.name,
  ]);
}

/** One timed run of one target; returns a cell (one sample). */
async function measure(ctx, target, op, concurrency, rep) {
  const { tools, work } = ctx;
  const load1 = loadAverage().one;
  if (target.kind === 'raw') {
    const { json } = await runJson(
      process.execPath,
      [
        target.script,
        '--op',
        op,
        '--concurrency',
        String(concurrency),
        '--duration-ms',
        String(opts.durationMs),
        ...target.args,
      ],
      { env: target.env },
    );
    const s = json.ops[op];
    return cell(target, op, concurrency, rep, s, {
      load1,
      cpu_us_per_op: s.count ? (json.cpu_s / s.count) * 1e6 : undefined,
    });
  }
  const cpu0 = cpuSeconds(target.pid);
  await scrapeLoop(target);
  const { json } = await harnessLoad(tools, work, target, op, concurrency, opts.durationMs);
  const cpu1 = cpuSeconds(target.pid);
  const loop = await scrapeLoop(target);
  const s = json.ops[op] ?? { count: 0, errors: 0, throughput_per_s: 0, latency_ms: {} };
  return cell(target, op, concurrency, rep, s, {
    load1,
    cpu_us_per_op: s.count ? ((cpu1 - cpu0) / s.count) * 1e6 : undefined,
    loop_p99_ms: loop?.p99,
    loop_max_ms: loop?.max,
  });
}

function cell(target, op, concurrency, rep, s, extra) {
  return {
    target: target.name,
    op,
    concurrency,
    rep,
    count: s.count,
    errors: s.errors,
    ...(s.first_error ? { first_error: s.first_error } : {}),
    throughput_per_s: s.throughput_per_s,
    p50_ms: s.latency_ms.p50,
    p99_ms: s.latency_ms.p99,
    p999_ms: s.latency_ms.p999,
    max_ms: s.latency_ms.max,
    ...extra,
  };
}

async function warmUp(ctx, target) {
  if (target.kind !== 'grpc') return; // the raw drivers warm up inside each run
  await harnessLoad(ctx.tools, ctx.work, target, 'mixed', 16, opts.warmupMs);
}

/**
 * Encrypts the storm's seeds through `target`, then decrypts them all at once,
 * `stormReps` times against it (warm) and `stormReps` times against a
 * freshly started process each (`fresh()`). Reports the run with the median
 * wall time of each kind, plus every wall time.
 */
async function storm(ctx, target, fresh) {
  const file = join(ctx.work, `${target.name}.storm.json`);
  const base = [
    '-work-dir',
    join(ctx.work, 'harness'),
    '-mode',
    'storm',
    '-storm-file',
    file,
    '-seeds',
    String(opts.stormSeeds),
    '-backend',
    target.name,
  ];
  const prepare = (await runJson(ctx.tools.harness, [...base, '-storm-prepare', '-attach', `unix://${target.socket}`]))
    .json;
  if (prepare.errors) return { prepare };
  const warms = [];
  const colds = [];
  for (let i = 0; i < opts.stormReps; i++) {
    await scrapeLoop(target);
    const warm = (await runJson(ctx.tools.harness, [...base, '-attach', `unix://${target.socket}`])).json;
    const loop = await scrapeLoop(target);
    warms.push({ ...warm, loop_p99_ms: loop?.p99, loop_max_ms: loop?.max });
    const f = await fresh();
    try {
      const cold = (await runJson(ctx.tools.harness, [...base, '-attach', `unix://${f.socket}`])).json;
      colds.push({ ...cold, peak_rss_bytes: memory(f.pid).hwm });
    } finally {
      await f.stop();
    }
  }
  const pick = (runs) => {
    const byWall = [...runs].sort((x, y) => (x.errors ? Infinity : x.wall_ms) - (y.errors ? Infinity : y.wall_ms));
    return {
      ...byWall[Math.floor((byWall.length - 1) / 2)],
      wall_ms_samples: runs.map((r) => r.wall_ms),
      errors_total: runs.reduce((n, r) => n + r.errors, 0),
    };
  };
  const cold = pick(colds);
  cold.peak_rss_bytes = Math.max(...colds.map((c) => c.peak_rss_bytes));
  return { prepare, warm: pick(warms), cold };
}

/** Start-to-ready through the harness (-mode startup): it starts the server itself, `repeat` times. */
async function startup(ctx, name, command, backend, env, stateDir) {
  const dir = join(ctx.work, `startup-${name}`);
  await mkdir(dir, { recursive: true });
  if (stateDir) await stateDir(join(dir, 'state'));
  const { json } = await runJson(
    ctx.tools.harness,
    [
      '-work-dir',
      dir,
      '-mode',
      'startup',
      '-repeat',
      String(opts.startupRepeat),
      '-kleidi',
      command,
      '-backend',
      backend,
    ],
    { env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KLEIDI_'))), ...env } },
  );
  return json;
}

// ---------------------------------------------------------------- backends

/**
 * What runs in one backend group. A grpc spec can start a server (again, for
 * the fresh-process storm) and names the command the harness's startup mode
 * runs; a raw spec is a driver script started per measurement. `server` is the
 * backend's test server (its env points kleidi and the raw drivers at it);
 * `comparison` the harness's baseline and references.
 */
function groupSpecs(ctx, name, server, comparison, dir) {
  const env = server.env;
  const kleidiSpec = (label, main) => ({
    name: label,
    kind: 'grpc',
    command: `${process.execPath} ${main}`,
    stateInit: (stateDir) => initState(name, stateDir, env),
    env,
    start: (suffix = '') =>
      startKleidi({
        name: `${label}${suffix}`,
        backend: name,
        env,
        dir,
        socket: join(dir, `${`${label}${suffix}`.replace(/\W/g, '_')}.sock`),
        nodeArgs: opts.nodeArgs,
        main,
      }),
  });
  const plain = (label, bin, args = []) => ({
    name: label,
    kind: 'grpc',
    command: [bin, ...args].join(' '),
    env: {},
    start: (suffix = '') =>
      startGoReference({
        name: `${label}${suffix}`,
        bin,
        args,
        dir,
        socket: join(dir, `${`${label}${suffix}`.replace(/\W/g, '_')}.sock`),
      }),
  });
  const target = (t) => {
    if (t.plugin === 'go-reference') return plain('go-reference', ctx.tools.goReference);
    // The cheapest Node plugin on kleidi's stack: separates kleidi's own cost from the runtime's.
    if (t.plugin === 'node-floor')
      return plain('node-floor', process.execPath, [join(REPO, 'bench', 'node-floor', 'server.mjs')]);
    if (t.raw) return { name: t.label, kind: 'raw', script: join(REPO, t.raw), args: t.args(env), env: baseEnv(env) };
    throw new Error(`${name}: unknown bench target ${JSON.stringify(t)}`);
  };
  return {
    kleidi: kleidiSpec(`kleidi-${name}`, KLEIDI_MAIN),
    abs: (opts.ab ?? []).map((n) => kleidiSpec(`kleidi-${name}@${n}`, abMain(n))),
    baseline: target(comparison.baseline),
    references: (comparison.references ?? []).map(target),
  };
}

/**
 * One backend group: kleidi on that backend, its baseline and references,
 * interleaved; then the storm, peak RSS and start-to-ready.
 */
async function runGroup(ctx, name, server, comparison) {
  const dir = join(ctx.work, name);
  await mkdir(dir, { recursive: true });
  const specs = groupSpecs(ctx, name, server, comparison, dir);
  await specs.kleidi.stateInit(join(dir, 'state'));
  const all = [specs.kleidi, ...specs.abs, specs.baseline, ...specs.references];
  const running = [];
  const result = {
    status: 'ok',
    kleidi: specs.kleidi.name,
    baseline: specs.baseline.name,
    ...(specs.abs.length ? { ab: specs.abs.map((a) => a.name) } : {}),
    references: specs.references.map((r) => r.name),
    cells: [],
  };
  try {
    for (const spec of all)
      running.push(spec.kind === 'grpc' ? Object.assign(await spec.start(), { spec }) : { ...spec, spec });
    log(`${name}: warming up`);
    for (const t of running) await warmUp(ctx, t);
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const op of OPS) {
        for (const c of opts.concurrency) {
          const order = (rep + opts.concurrency.indexOf(c)) % 2 === 0 ? running : [...running].reverse();
          for (const t of order) {
            const x = await measure(ctx, t, op, c, rep);
            result.cells.push(x);
            log(
              `${name} rep ${rep + 1}/${opts.reps} ${op}@${c} ${t.name}: ${Math.round(x.throughput_per_s)}/s p99 ${x.p99_ms} ms${x.errors ? ` ERRORS ${x.errors}: ${x.first_error}` : ''} (load ${x.load1})`,
            );
          }
        }
      }
    }
    log(`${name}: storm`);
    result.storm = {};
    result.peak_rss_bytes = {};
    for (const t of running.filter((r) => r.kind === 'grpc')) {
      const key = t === running[0] ? 'kleidi' : t.name;
      result.storm[key] = await storm(ctx, t, () => t.spec.start('-fresh'));
      result.peak_rss_bytes[key] = memory(t.pid).hwm;
      const fresh = result.storm[key].cold?.peak_rss_bytes;
      if (fresh !== undefined) result.peak_rss_bytes[`${key} (fresh process, after its storm)`] = fresh;
    }
  } finally {
    for (const t of running) await t.stop?.();
  }
  log(`${name}: start to ready`);
  result.startup = {};
  for (const spec of all.filter((x) => x.kind === 'grpc')) {
    result.startup[spec.name] = await startup(ctx, spec.name, spec.command, name, spec.env, spec.stateInit);
  }
  result.summary = summarise(result.cells);
  result.ratios = ratios(result.cells, specs.kleidi.name, specs.baseline.name);
  if (specs.abs.length)
    result.ab_ratios = Object.fromEntries(
      specs.abs.map((ab) => [ab.name, ratios(result.cells, specs.kleidi.name, ab.name)]),
    );
  result.reference_ratios = Object.fromEntries(
    specs.references.map((r) => [r.name, ratios(result.cells, specs.kleidi.name, r.name)]),
  );
  const at64 = OPS.map(
    (op) => result.summary[specs.kleidi.name]?.[op]?.[Math.max(...opts.concurrency)]?.loop_p99_ms,
  ).filter((x) => x !== undefined);
  if (at64.length) result.event_loop_p99_ms = Math.max(...at64);
  return result;
}

/** `--snapshot NAME`: keeps the current build for a later `--ab NAME`. */
async function snapshot(name) {
  const dir = join(REPO, 'bench', '.ab', name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await cp(join(REPO, 'dist'), join(dir, 'dist'), { recursive: true });
  await cp(join(REPO, 'package.json'), join(dir, 'package.json'));
  console.log(`snapshot of dist/ in ${dir}; compare with --ab ${name}`);
}

async function main() {
  if (opts.snapshot) return snapshot(opts.snapshot);
  if (opts.fromJson) {
    await writeDocs(JSON.parse(await readFile(opts.fromJson, 'utf8')));
    console.log(`docs/benchmarks.md and its charts regenerated from ${opts.fromJson}`);
    return;
  }
  const started = new Date();
  await initClock();
  const work = await mkdtemp(join(tmpdir(), 'kleidi-bench.'));
  const loadStart = loadAverage();
  log(`work dir ${work}; building the harness and the Go reference`);
  const tools = await buildTools(work);
  await mkdir(join(work, 'harness'), { recursive: true });
  const ctx = { tools, work };
  const result = {
    kind: opts.kind,
    started_at: started.toISOString(),
    machine: await machine(),
    versions: await versions(tools),
    settings: {
      duration_ms: opts.durationMs,
      reps: opts.reps,
      concurrency: opts.concurrency,
      warmup_ms: opts.warmupMs,
      startup_repeat: opts.startupRepeat,
      storm_seeds: opts.stormSeeds,
      storm_reps: opts.stormReps,
      node_args: opts.nodeArgs,
    },
    backends: {},
  };
  let broken = false;
  try {
    for (const name of opts.backends) {
      const harness = await loadHarness(backendByName(name));
      // A server that cannot be installed or built here is reported, not a broken benchmark.
      const missing = await harness.prepare().then(
        () => undefined,
        (err) => String(err.message ?? err).split('\n')[0],
      );
      if (missing) {
        log(`${name}: skipped: ${missing}`);
        result.backends[name] = { status: `skipped: ${missing}` };
        continue;
      }
      let server;
      try {
        const serverDir = join(work, `${name}-server`);
        await mkdir(serverDir, { recursive: true });
        server = await harness.start(serverDir, { kleidi: [process.execPath, KLEIDI_MAIN] });
        if (server.version) result.versions[`${name} test server`] = server.version;
        // The Go reference plugin when the harness names no baseline (docs/adr/0006-backend-registry.md).
        const comparison = harness.bench ?? { baseline: { plugin: 'go-reference' } };
        result.backends[name] = await runGroup(ctx, name, server, comparison);
      } catch (err) {
        broken = true;
        log(`${name}: failed: ${err.stack ?? err}`);
        result.backends[name] = { status: `failed: ${String(err.message ?? err).split('\n')[0]}` };
      } finally {
        await server?.stop();
      }
    }
  } finally {
    result.finished_at = new Date().toISOString();
    result.wall_s = Math.round((Date.now() - started.getTime()) / 1000);
    const loads = Object.values(result.backends).flatMap((b) => (b.cells ?? []).map((c) => c.load1));
    result.load_average = { start: loadStart, end: loadAverage(), median_cell: median(loads) };
    result.goals = goals(result);
    // Raw samples stay out of git (.cache/ is ignored); docs/benchmarks.md keeps the summary.
    await mkdir(join(REPO, '.cache', 'bench'), { recursive: true });
    const out = join(REPO, '.cache', 'bench', `${opts.kind}.json`);
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    printReport(result);
    console.log(`\nJSON: ${out} (${result.wall_s} s)`);
    if (opts.kind === 'full' && opts.docs && !broken) {
      await writeDocs(result);
      console.log('docs/benchmarks.md regenerated');
    }
    if (!process.env.BENCH_KEEP) await rm(work, { recursive: true, force: true });
  }
  if (broken) process.exitCode = 1;
}

const BEGIN = '<!-- generated by npm run bench: begin -->';
const END = '<!-- generated by npm run bench: end -->';

/**
 * Replaces the generated block of docs/benchmarks.md, keeping everything around it, and draws its
 * charts (docs/img/bench-*.svg) from the same result; `npm run docs:check` redraws them from the page.
 */
async function writeDocs(result) {
  const path = join(REPO, 'docs', 'benchmarks.md');
  const doc = await readFile(path, 'utf8').catch(() => `# Benchmarks\n\n${BEGIN}\n${END}\n`);
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`docs/benchmarks.md lacks the markers ${BEGIN} … ${END}`);
  const page = `${doc.slice(0, a + BEGIN.length)}\n${markdown(result)}\n${doc.slice(b)}`;
  await writeFile(path, page);
  // After requireTypeScript: tools/ is TypeScript, resolved through the hooks lib/typescript.mjs registers.
  const { charts, figuresFromResult, syncCharts } = await import('../tools/bench-charts.ts');
  const problems = syncCharts(join(REPO, 'docs'), page, charts(figuresFromResult(result)), 'write');
  if (problems.length) throw new Error(`charts: ${problems.join('; ')}`);
}

main().catch((err) => {
  console.error(err.stack ?? err);
  process.exit(1);
});
