import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * globalSetup of the `integration` project (vitest.config.ts): builds dist/ once as
 * `npm run build` does (scripts/build.mjs: tsc, then the single-file bundle that ships), before
 * any of its test files runs, because those tests start the built CLI (`dist/main.js`).
 * Without it, a test would run whatever build was left behind by an earlier `npm run build`,
 * possibly of other sources.
 */
export default function buildDist(): void {
  const started = performance.now();
  const build = spawnSync(process.execPath, [resolve(ROOT, 'scripts/build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) {
    throw new Error(`building dist/ failed (exit ${build.status ?? build.signal}):\n${build.stdout}${build.stderr}`);
  }
  console.log(`built dist/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
