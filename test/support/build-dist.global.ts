import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * globalSetup of the `integration` project (vitest.config.ts): compiles src/ into
 * dist/ once, before any of its test files runs, because those tests start the
 * built CLI (`dist/main.js`). Without it, a test would run whatever build was
 * left behind by an earlier `npm run build`, possibly of other sources.
 */
export default function buildDist(): void {
  const started = performance.now();
  const tsc = spawnSync(
    process.execPath,
    [resolve(ROOT, 'node_modules/typescript/bin/tsc'), '-p', resolve(ROOT, 'tsconfig.build.json')],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (tsc.status !== 0) {
    throw new Error(`building dist/ failed (tsc exit ${tsc.status ?? tsc.signal}):\n${tsc.stdout}${tsc.stderr}`);
  }
  console.log(`built dist/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
