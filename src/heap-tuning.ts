import { setFlagsFromString } from 'node:v8';

/**
 * V8 heap settings for a small, steady footprint, applied before anything
 * else is loaded (main.ts imports this module first). Measured under load
 * (docs/benchmarks.md, "Heap tuning"): by default V8 grows the young
 * generation to 2 × 64 MB and lets the old one fill with per-call objects
 * that grpc-js and node:http2 keep alive past a scavenge, so kleidi peaked at
 * about 330 MB RSS with 25-35 ms GC pauses in its event loop. With these two
 * flags it peaks at about 140 MB and p99 latency roughly halves, for 10-20 %
 * less peak throughput (still several thousand calls/s, far above what an
 * apiserver asks). Both flags are read by V8 whenever it sizes the heap, so
 * setting them at runtime works (checked with process.memoryUsage()).
 *
 * - `--semi-space-growth-factor=1`: the young generation keeps its initial
 *   size instead of doubling up to 64 MB per semi-space.
 * - `--heap-growing-percent=50`: after a full GC the old generation may grow
 *   to 1.5 × the live size before the next one, instead of up to 4 ×.
 *
 * An operator's own choice wins: a flag given in NODE_OPTIONS or on the node
 * command line is left alone.
 */
export const HEAP_FLAGS: readonly string[] = ['--semi-space-growth-factor=1', '--heap-growing-percent=50'];

export function applyHeapFlags(
  given: string = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`,
): string[] {
  const applied: string[] = [];
  for (const flag of HEAP_FLAGS) {
    const name = flag.slice(2, flag.indexOf('='));
    const spelled = [name, name.replaceAll('-', '_')];
    if (spelled.some((n) => given.includes(`--${n}`))) continue;
    setFlagsFromString(flag);
    applied.push(flag);
  }
  return applied;
}

applyHeapFlags();
