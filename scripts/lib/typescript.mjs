// Lets a script import kleidi's TypeScript (the backend registry, the test servers' harnesses)
// without a build: Node 24 runs .ts files, and --experimental-transform-types adds what plain
// type stripping refuses (parameter properties). test/support/ts-child-hooks.mjs resolves the
// sources' `./x.js` imports to `./x.ts` (module.registerHooks, in this thread).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import '../../test/support/ts-child-hooks.mjs';

const TS_FLAGS = ['--experimental-transform-types', '--disable-warning=ExperimentalWarning'];

/**
 * Returns at once under TypeScript transform; otherwise runs the script again with it
 * (signals forwarded) and exits with its code, so `node scripts/x.mjs` works as is.
 */
export async function requireTypeScript(scriptUrl) {
  if (process.features.typescript === 'transform') return;
  const child = spawn(process.execPath, [...TS_FLAGS, fileURLToPath(scriptUrl), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  const code = await new Promise((done) => child.once('exit', (c, s) => done(c ?? (s ? 128 : 1))));
  process.exit(code);
}

/** The backend registry (src/composition/backends) and the harness loader (test/backends). */
export async function loadRegistry() {
  const registry = await import('../../src/composition/backends/index.ts');
  const harness = await import('../../test/backends/harness.ts');
  return { ...registry, loadHarness: harness.loadHarness };
}
