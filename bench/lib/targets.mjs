// What the benchmark runs: the tools it builds (the conformance harness, the
// Go reference plugin), kleidi on each backend, and the backends' servers
// (a SoftHSM token, a Vault/OpenBao dev server).
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { exists, freePort, httpCall, run, startProcess, waitFor } from './proc.mjs';

export const REPO = resolve(new URL('../..', import.meta.url).pathname);
export const KLEIDI_MAIN = join(REPO, 'dist', 'main.js');
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

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

/** The kleidi backends this build registers (dist/composition/backends/index.js). */
export async function registeredBackends() {
  const mod = await import(join(REPO, 'dist', 'composition', 'backends', 'index.js'));
  return mod.backendNames();
}

/** kleidi's default PKCS#11 session pool size, so the raw driver uses the same. */
export async function pkcs11PoolSize() {
  const mod = await import(join(REPO, 'dist', 'adapters', 'outbound', 'pkcs11', 'pkcs11.options.js'));
  return mod.PKCS11_DEFAULTS.sessionPoolSize;
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
 * made with `node scripts/bench.mjs --snapshot NAME` before changing src.
 * dist/composition/version.js reads ../../package.json, so a copy sits next to dist.
 */
export function abMain(name) {
  const main = join(REPO, 'bench', '.ab', name, 'dist', 'main.js');
  if (!exists(main)) throw new Error(`no snapshot ${main}; make it with: node scripts/bench.mjs --snapshot ${name}`);
  return main;
}

/** Creates the local keyring before anything is timed (serve would create it on first start). */
export async function initLocal(stateDir) {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const r = await run(process.execPath, [KLEIDI_MAIN, 'init', '--backend', 'local', '--state-dir', stateDir], {
    env: baseEnv(),
  });
  if (r.code !== 0) throw new Error(`kleidi init (local) failed: ${r.stderr || r.stdout}`);
}

/**
 * A fresh SoftHSM token in its own directory with one KEK made by
 * `kleidi init`. Returns kleidi's environment and the raw driver's flags, or
 * `{ skip }` when SoftHSM is not installed.
 */
export async function setUpSoftHsm(dir) {
  if (!exists(SOFTHSM_MODULE))
    return { skip: `SoftHSM2 module ${SOFTHSM_MODULE} not found (scripts/setup-softhsm.sh)` };
  const tokens = join(dir, 'tokens');
  await mkdir(tokens, { recursive: true, mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const pinFile = join(dir, 'pin');
  await writeFile(pinFile, '1234\n', { mode: 0o600 });
  await chmod(pinFile, 0o600);
  const label = 'kleidi-bench';
  // Benchmark-only PINs on argv; production PINs never go there.
  const init = await run(
    'softhsm2-util',
    ['--init-token', '--free', '--label', label, '--so-pin', '0000', '--pin', '1234'],
    {
      env: baseEnv({ SOFTHSM2_CONF: conf }),
    },
  );
  if (init.code !== 0) return { skip: `softhsm2-util --init-token failed: ${init.stderr.trim()}` };
  const env = { SOFTHSM2_CONF: conf, KLEIDI_PKCS11_TOKEN_LABEL: label, KLEIDI_PKCS11_PIN_FILE: pinFile };
  const kinit = await run(
    process.execPath,
    [KLEIDI_MAIN, 'init', '--backend', 'pkcs11', '--state-dir', join(dir, 'state')],
    {
      env: baseEnv(env),
    },
  );
  if (kinit.code !== 0) throw new Error(`kleidi init (pkcs11) failed: ${kinit.stderr || kinit.stdout}`);
  const poolSize = await pkcs11PoolSize();
  return {
    env,
    poolSize,
    rawArgs: [
      '--module',
      SOFTHSM_MODULE,
      '--token-label',
      label,
      '--pin-file',
      pinFile,
      '--key-label',
      'kleidi-kek',
      '--pool',
      String(poolSize),
    ],
  };
}

/** Where scripts/setup-vault-server.sh puts the server binary. */
export function vaultBinary() {
  return join(process.env.KLEIDI_VAULT_SERVER_CACHE ?? join(REPO, '.cache', 'vault-server'), 'vault');
}

/**
 * A dev-mode Vault/OpenBao server (in-memory storage, plain http on
 * loopback) with transit mounted and an aes256-gcm96 key `kleidi`.
 * Returns `{ skip }` when the binary is missing or kleidi has no vault backend.
 */
export async function setUpVault(dir, registered) {
  if (!registered.includes('vault')) {
    return { skip: 'this kleidi build does not register the vault backend (src/composition/backends/index.ts)' };
  }
  const bin = vaultBinary();
  if (!exists(bin)) return { skip: `no Vault/OpenBao server at ${bin} (npm run vault:setup builds it)` };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const version = (await run(bin, ['version'])).stdout.trim().split('\n')[0];
  const port = await freePort();
  const address = `http://127.0.0.1:${port}`;
  const p = startProcess(
    bin,
    ['server', '-dev', '-dev-root-token-id=root', `-dev-listen-address=127.0.0.1:${port}`, '-dev-no-store-token'],
    {
      env: { PATH: process.env.PATH ?? '', HOME: dir, VAULT_LOG_LEVEL: 'warn', VAULT_DISABLE_MLOCK: 'true' },
      logFile: join(dir, 'server.log'),
      cwd: dir,
    },
  );
  await waitFor('Vault dev server', async () => (await httpCall(`${address}/v1/sys/health`)).status === 200, {
    alive: () => p.alive,
    everyMs: 100,
    limitMs: 60_000,
  });
  const api = async (path, body) => {
    const r = await httpCall(`${address}/v1/${path}`, { method: 'POST', headers: { 'x-vault-token': 'root' }, body });
    if (r.status < 200 || r.status > 299) throw new Error(`Vault POST ${path}: ${r.status} ${r.text}`);
  };
  await api('sys/mounts/transit', { type: 'transit' });
  await api('transit/keys/kleidi', { type: 'aes256-gcm96' });
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, 'root\n', { mode: 0o600 });
  return {
    version,
    pid: p.pid,
    env: { KLEIDI_VAULT_ADDRESS: address, KLEIDI_VAULT_TOKEN_FILE: tokenFile },
    rawArgs: ['--address', address, '--token-file', tokenFile, '--mount', 'transit', '--key', 'kleidi'],
    stop: () => p.stop(),
  };
}
