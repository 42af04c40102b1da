import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { freePort } from './free-port.js';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * A real Vault server for the vault backend's tests: the binary that
 * scripts/setup-vault-server.sh builds from Go modules (test/vault-server).
 * Every server listens on 127.0.0.1 only, and is killed when the test process
 * exits even if a suite forgets to stop it.
 */
const VAULT_BINARY = resolve(process.env.KLEIDI_VAULT_SERVER_CACHE ?? '.cache/vault-server', 'vault');

/** Fails (never skips) when the server binary was not built. */
export function requireVaultBinary(): string {
  if (!existsSync(VAULT_BINARY)) {
    throw new Error(
      `Vault test server not found at ${VAULT_BINARY}. Build it with \`bash scripts/setup-vault-server.sh\` ` +
        '(needs Go and the Go module proxy; the first build takes several minutes).',
    );
  }
  return VAULT_BINARY;
}

/** The CA that signs the server's certificate (and, for mTLS helpers, a client pair). */
export interface VaultTlsFiles {
  readonly caFile: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

/** The extra DNS name the dev TLS certificate carries, for tlsServerName tests. */
export const DEV_TLS_NAME = 'vault.kleidi.test';

export interface VaultServer {
  readonly address: string;
  /** Set when the server speaks TLS. */
  readonly tls?: VaultTlsFiles;
  readonly rootToken: string;
  readonly dir: string;
  /** Authenticated JSON call with the root token (or `token`); rejects on a non-2xx answer. */
  api(method: string, path: string, body?: unknown, token?: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export { freePort } from './free-port.js';

/**
 * Starts `vault server -dev` (in-memory, unsealed, root token "root") on a free
 * loopback port; with `tls`, Vault generates a CA and a certificate for
 * 127.0.0.1, localhost and DEV_TLS_NAME into the server's directory.
 */
export async function startDevVault(opts: { tls?: boolean } = {}): Promise<VaultServer> {
  return onAFreePort(() => startDevVaultOnce(opts));
}

/**
 * Retries a server start that lost its port: freePort() only finds a port
 * free now, and a parallel test file's server may bind it first (then ours
 * exits, and waitHealthy, which checks who listens, says so).
 */
export async function onAFreePort<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

async function startDevVaultOnce(opts: { tls?: boolean }): Promise<VaultServer> {
  const bin = requireVaultBinary();
  const dir = await mkdtemp(join(tmpdir(), 'kleidi-vault-dev-'));
  const port = await freePort();
  const args = [
    'server',
    '-dev',
    '-dev-root-token-id=root',
    `-dev-listen-address=127.0.0.1:${port}`,
    '-dev-no-store-token',
  ];
  if (opts.tls) args.push('-dev-tls', `-dev-tls-cert-dir=${dir}`, `-dev-tls-san=${DEV_TLS_NAME}`);
  const address = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const tls = opts.tls ? { caFile: join(dir, 'vault-ca.pem') } : undefined;
  const proc = launch(bin, args, dir);
  const server = serverAt(address, 'root', dir, tls, proc);
  try {
    await waitHealthy(server, proc);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/** Spawns the server with a scrubbed environment and its output in `<dir>/server.log`. */
export function launch(bin: string, args: string[], dir: string): ChildProcess {
  const log = openSync(join(dir, 'server.log'), 'a');
  const env = { PATH: process.env.PATH ?? '', HOME: dir, VAULT_LOG_LEVEL: 'warn', VAULT_DISABLE_MLOCK: 'true' };
  const proc = spawn(bin, args, { cwd: dir, env, stdio: ['ignore', log, log] });
  closeSync(log);
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  return proc;
}

export function serverAt(
  address: string,
  rootToken: string,
  dir: string,
  tls: VaultTlsFiles | undefined,
  proc?: ChildProcess,
): VaultServer {
  let current = proc;
  return {
    address,
    ...(tls ? { tls } : {}),
    rootToken,
    dir,
    api: (method, path, body, token) => vaultApi(address, token ?? rootToken, method, path, body, tls),
    stop: async () => {
      if (current) await stopProcess(current);
      current = undefined;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((ok) => proc.once('exit', ok));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Polls until the server answers at all (sealed is fine when `sealedOk`), or fails with its log. */
export async function waitHealthy(server: VaultServer, proc: ChildProcess, sealedOk = false): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null)
      throw new Error(`Vault exited with ${proc.exitCode}; see ${join(server.dir, 'server.log')}`);
    // A dev TLS server writes its CA file at startup; until then there is nothing to trust.
    const caReady = !server.tls || existsSync(server.tls.caFile);
    const status = caReady ? await vaultStatus(server.address, server.tls).catch(() => 0) : 0;
    // Only our process counts: another test's dev server may answer on a port we lost to it.
    const answered = status === 200 || (sealedOk && (status === 501 || status === 503));
    if (answered && listensOn(proc.pid, Number(new URL(server.address).port))) return;
    if (Date.now() > until) throw new Error(`Vault did not become ready; see ${join(server.dir, 'server.log')}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

function vaultStatus(address: string, tls?: VaultTlsFiles): Promise<number> {
  return raw(address, 'GET', '/v1/sys/health', undefined, undefined, tls).then((r) => r.status);
}

/** One HTTP call to the Vault API (test setup only; the code under test uses node-vault). */
export async function vaultApi(
  address: string,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  tls?: VaultTlsFiles,
): Promise<Record<string, unknown>> {
  const r = await raw(address, method, `/v1/${path}`, body, token, tls);
  if (r.status < 200 || r.status > 299) throw new Error(`Vault ${method} ${path} answered ${r.status}: ${r.text}`);
  return r.text ? (JSON.parse(r.text) as Record<string, unknown>) : {};
}

async function raw(
  address: string,
  method: string,
  path: string,
  body: unknown,
  token: string | undefined,
  tls?: VaultTlsFiles,
) {
  const { readFile } = await import('node:fs/promises');
  const url = new URL(path, address);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(token ? { 'x-vault-token': token } : {}),
  };
  const tlsOpts = tls
    ? {
        ca: await readFile(tls.caFile),
        ...(tls.certFile && tls.keyFile
          ? { cert: await readFile(tls.certFile), key: await readFile(tls.keyFile) }
          : {}),
      }
    : {};
  return new Promise<{ status: number; text: string }>((ok, fail) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      { method, headers, agent: false, ...tlsOpts },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, text }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Mounts transit at `mount` and creates an aes256-gcm96 key `key`. */
export async function setUpTransit(server: VaultServer, mount = 'transit', key = 'kleidi'): Promise<void> {
  await server.api('POST', `sys/mounts/${mount}`, { type: 'transit' });
  await server.api('POST', `${mount}/keys/${key}`, { type: 'aes256-gcm96' });
}

/** Writes `content` to a new file with mode 0600 (credential files kleidi accepts). */
export async function secretFile(dir: string, name: string, content: string, mode = 0o600): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content, { mode });
  await chmod(path, mode); // the mode asked for, whatever the umask
  return path;
}

/** Whether process `pid` holds the listening TCP socket on `port` (Linux: /proc/net/tcp* inodes against /proc/<pid>/fd). */
function listensOn(pid: number | undefined, port: number): boolean {
  if (pid === undefined) return false;
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const rows = existsSync(table) ? readFileSync(table, 'utf8').split('\n').slice(1) : [];
    for (const row of rows) {
      const cols = row.trim().split(/\s+/);
      // Columns: sl, local_address, rem_address, st (0A = LISTEN), …, inode (proc(5)).
      if (cols[1]?.endsWith(hex) && cols[3] === '0A' && cols[9]) inodes.add(cols[9]);
    }
  }
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: 'utf8' });
      return inodes.has(/^socket:\[(\d+)\]$/.exec(target)?.[1] ?? '');
    });
  } catch {
    return false; // exited meanwhile: waitHealthy says so
  }
}
