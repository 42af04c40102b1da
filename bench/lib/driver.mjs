// Shared by the raw-backend drivers (bench/raw/*.mjs): a closed loop of
// `concurrency` callers for `durationMs`, latencies in the harness's JSON
// shape (test/conformance/loadstats.go), so kleidi and raw runs compare
// field by field.
import { performance } from 'node:perf_hooks';

/** Parses `--key value` pairs; every driver flag takes a value. */
export function parseFlags(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    if (!k?.startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument ${k}`);
    out[k.slice(2)] = argv[i + 1];
  }
  return out;
}

/**
 * Runs `call()` from `concurrency` callers until `durationMs` is over, after
 * `warmupMs` of untimed calls (the JIT warms up, as kleidi's warm-up run
 * does for kleidi). Returns the harness's per-op stats plus this process's CPU.
 */
export async function closedLoop({ op, concurrency, durationMs, warmupMs }, call) {
  await loop(concurrency, warmupMs, call, undefined);
  const lat = [];
  const errs = { n: 0, first: undefined };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await loop(concurrency, durationMs, call, { lat, errs });
  const elapsedS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    mode: 'raw',
    op,
    concurrency,
    duration_s: round(elapsedS),
    total_throughput_per_s: round(lat.length / elapsedS),
    cpu_s: round((cpu.user + cpu.system) / 1e6),
    ops: { [op]: stats(lat, errs, elapsedS) },
  };
}

async function loop(concurrency, ms, call, rec) {
  const until = performance.now() + ms;
  const caller = async () => {
    while (performance.now() < until) {
      const t = performance.now();
      try {
        await call();
        rec?.lat.push(performance.now() - t);
      } catch (err) {
        if (!rec) throw err;
        rec.errs.n++;
        rec.errs.first ??= String(err?.message ?? err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
}

function stats(lat, errs, elapsedS) {
  lat.sort((a, b) => a - b);
  const pct = (q) =>
    lat.length === 0 ? 0 : round(lat[Math.max(0, Math.min(lat.length - 1, Math.ceil(q * lat.length) - 1))]);
  return {
    count: lat.length,
    errors: errs.n,
    throughput_per_s: round(lat.length / elapsedS),
    latency_ms: { p50: pct(0.5), p99: pct(0.99), p999: pct(0.999), max: pct(1) },
    ...(errs.first ? { first_error: errs.first } : {}),
  };
}

export function round(x) {
  return Math.round(x * 1000) / 1000;
}

/** A fixed-size pool with one user per item (PKCS#11 sessions), FIFO waiters. */
export class Pool {
  #idle;
  #waiters = [];
  constructor(items) {
    this.#idle = [...items];
  }
  async use(fn) {
    const item = this.#idle.pop() ?? (await new Promise((resolve) => this.#waiters.push(resolve)));
    try {
      return await fn(item);
    } finally {
      const next = this.#waiters.shift();
      if (next) next(item);
      else this.#idle.push(item);
    }
  }
}
