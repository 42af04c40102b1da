// What the benchmark runs: the tools it builds (the conformance harness, the
// Go reference plugin) and kleidi on each backend. The backends' servers (a
// SoftHSM token, a Vault dev server, …) come from the harnesses the backend
// registry names (test/backends/<name>.harness.ts).
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { exists, freePort, httpCall, run, startProcess, waitFor } from './proc.mjs';

export const REPO = resolve(new URL('../..', import.meta.url).pathname);
export const KLEIDI_MAIN = join(REPO, 'dist', 'main.js');

/** The environment every child gets: ours without KLEIDI_* (kleidi rejects unknown ones and reads the rest as settings). */
export function baseEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KLEIDI_')) env[k] = v;
  return { ...env, ...extra };
}

/** Builds the harness (test/conformance) and the Go reference plugin (bench/go-reference) into `work`. */
export async function buildTools(work) {
  const build = async (dir, out) => {
    const r = await run('go', ['build', '-buildvcs=false', '-o', out, '.'], { cwd: join(REPO, dir) });
    if (r.code !== 0) throw new Error(`go build in ${dir} failed:\n${r.stderr}`);
    return out;
  };
  const [harness, goReference] = await Promise.all([
    build('test/conformance', join(work, 'conformance')),
    build('bench/go-reference', join(work, 'kms-go')),
  ]);
  return { harness, goReference };
}

/**
 * `kleidi serve` on `backend` with the HTTP endpoint on a free loopback port
 * (for /readyz and the event-loop gauges on /metrics); ready when /readyz
 * answers 200 and the socket exists.
 */
export async function startKleidi({ name, backend, env, dir, socket, nodeArgs = [], main = KLEIDI_MAIN }) {
  await mkdir(join(dir, 'state'), { recursive: true, mode: 0o700 });
  const port = await freePort();
  const args = [
    ...nodeArgs,
    main,
    'serve',
    '--backend',
    backend,
    '--socket',
    `unix://${socket}`,
    '--state-dir',
    join(dir, 'state'),
    '--http-address',
    `127.0.0.1:${port}`,
  ];
  const p = startProcess(process.execPath, args, { env: baseEnv(env), logFile: join(dir, `${name}.log`), cwd: dir });
  const http = `http://127.0.0.1:${port}`;
  await waitFor(
    `${name} (see ${join(dir, `${name}.log`)})`,
    async () => exists(socket) && (await httpCall(`${http}/readyz`)).status === 200,
    { alive: () => p.alive, everyMs: 20 },
  );
  return { name, kind: 'grpc', socket, pid: p.pid, metricsUrl: `${http}/metrics`, stop: () => p.stop() };
}

/**
 * A baseline plugin that takes kleidi-style `serve --socket … --state-dir …`
 * (the Go reference, the Node floor); its key lives in `<dir>/state` so a
 * restart can decrypt earlier ciphertexts. Ready when the socket exists.
 */
export async function startGoReference({ name, bin, args = [], dir, socket }) {
  await mkdir(join(dir, 'state'), { recursive: true, mode: 0o700 });
  const p = startProcess(bin, [...args, 'serve', '--socket', `unix://${socket}`, '--state-dir', join(dir, 'state')], {
    env: baseEnv(),
    logFile: join(dir, `${name}.log`),
    cwd: dir,
  });
  await waitFor(name, () => exists(socket), { alive: () => p.alive, everyMs: 10 });
  return { name, kind: 'grpc', socket, pid: p.pid, stop: () => p.stop() };
}

/**
 * An earlier build to compare against (`--ab NAME`): bench/.ab/NAME/dist,
 * made with `npm run bench -- --snapshot NAME` before changing src.
 * kleidi reads its version from the package.json above dist/, so a copy sits next to dist.
 */
export function abMain(name) {
  const main = join(REPO, 'bench', '.ab', name, 'dist', 'main.js');
  if (!exists(main)) throw new Error(`no snapshot ${main}; make it with: npm run bench -- --snapshot ${name}`);
  return main;
}

/**
 * `kleidi init` in a state directory before anything is timed (for the local backend, serve
 * would otherwise create the keyring on its first start; for the others it finds the key the
 * test server already holds). `env` points kleidi at the backend's test server.
 */
export async function initState(backend, stateDir, env) {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const r = await run(process.execPath, [KLEIDI_MAIN, 'init', '--backend', backend, '--state-dir', stateDir], {
    env: baseEnv(env),
  });
  if (r.code !== 0) throw new Error(`kleidi init (${backend}) failed: ${r.stderr || r.stdout}`);
}
