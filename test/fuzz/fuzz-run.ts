import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { statusOf } from './status.js';
import { gcmMaxPlaintext, RawClient, runFuzz, validSamples, type FuzzReport, type ValidSample } from './grpc-fuzz.js';

/** Resident set size of a process in KiB (VmRSS in /proc/<pid>/status). */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

export interface FuzzRun {
  readonly report: FuzzReport;
  readonly warmup: number;
  readonly rssBeforeKiB: number;
  readonly rssAfterKiB: number;
  /** RSS after each progress step (requests sent → KiB). */
  readonly rssTrend: [number, number][];
  readonly aliveAfter: boolean;
  readonly healthyAfter: boolean;
  readonly roundTripAfter: boolean;
  readonly seeds: readonly Uint8Array[];
}

/**
 * Fuzzes a running kleidi: a warm-up (so lazily built state, JIT and pools
 * exist before RSS is read), then `count` cases, then checks it is still alive,
 * healthy and correct. `isAlive` tells whether the process is still running.
 */
export async function fuzzKleidi(opts: {
  socket: string;
  pid: number;
  isAlive: () => boolean;
  count: number;
  seed?: number;
  warmup?: number;
  concurrency?: number;
}): Promise<FuzzRun> {
  const c = new RawClient(opts.socket);
  const seeds: Uint8Array[] = Array.from({ length: 16 }, () => randomBytes(32));
  const valid: ValidSample[] = await validSamples(c, seeds.length, (i) => seeds[i]!);
  const keyId = valid[0]!.decryptReq.keyId;
  const oracle = { maxPlaintext: keyId.startsWith('vault:') ? undefined : gcmMaxPlaintext(keyId), valid };
  const seed = opts.seed ?? Date.now() & 0x7fffffff;
  // V8 grows its heap over the first tens of thousands of calls and then stays (measured: RSS
  // ~110 MB → ~300 MB over 40k fuzz calls, then flat); RSS is compared from after that warm-up.
  const warmup = opts.warmup ?? Math.min(40_000, Math.max(1_000, Math.floor(opts.count * 0.4)));
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // Warm-up: the same generator with another seed, not counted in the report.
  await runFuzz({ socket: opts.socket, count: warmup, seed: seed ^ 0x5a5a5a5a, oracle, concurrency: opts.concurrency });
  await pause(1_000);
  const rssBeforeKiB = rssKiB(opts.pid);
  const rssTrend: [number, number][] = [[0, rssBeforeKiB]];
  const every = Math.max(1_000, Math.floor(opts.count / 10));
  const report = await runFuzz({
    socket: opts.socket,
    count: opts.count,
    seed,
    oracle,
    concurrency: opts.concurrency,
    progressEvery: every,
    onProgress: (n) => void rssTrend.push([n, rssKiB(opts.pid)]),
  });
  await pause(2_000);
  const aliveAfter = opts.isAlive();
  const rssAfterKiB = aliveAfter ? rssKiB(opts.pid) : 0;
  const status = aliveAfter ? await statusOf(opts.socket) : undefined;
  let roundTripAfter = false;
  if (aliveAfter) {
    const fresh = await validSamples(c, 1, () => randomBytes(32)).catch(() => []);
    const back = fresh[0] ? await c.call('/v2.KeyManagementService/Decrypt', fresh[0].decrypt, 3_000) : undefined;
    roundTripAfter = back?.code === 0 && back.body !== undefined;
    if (fresh[0]) seeds.push(fresh[0].seed);
  }
  c.close();
  return {
    report,
    warmup,
    rssBeforeKiB,
    rssAfterKiB,
    rssTrend,
    aliveAfter,
    healthyAfter: status?.healthz === 'ok',
    roundTripAfter,
    seeds,
  };
}
