import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KmsTestClient } from '../../support/grpc-client.js';
import { KLEIDI_MAIN, LOGS, NODE, sleep } from './env.js';

/**
 * A kleidi process for the campaign. Output goes to a log file (appended
 * across restarts) so every log the run produces can be scanned for secrets
 * afterwards; the environment is minimal (PATH plus the backend's settings),
 * never the test runner's.
 */
export interface KleidiSpec {
  readonly name: string;
  readonly socket: string;
  readonly stateDir: string;
  readonly backend: string;
  /** Backend settings and secrets passed the way an operator would (env, never argv). */
  readonly env: Record<string, string>;
  readonly extraArgs?: readonly string[];
  /** Runs kleidi through this command prefix (e.g. nsenter into a mount namespace). */
  readonly prefix?: readonly string[];
  readonly logLevel?: string;
}

export class KleidiNode {
  proc: ChildProcess | undefined;
  readonly logFile: string;
  starts = 0;
  private exitWaiter: Promise<number | null> | undefined;

  constructor(readonly spec: KleidiSpec) {
    this.logFile = join(LOGS, `${spec.name}.log`);
  }

  get pid(): number {
    if (!this.proc?.pid) throw new Error(`${this.spec.name} is not running`);
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  args(): string[] {
    const s = this.spec;
    return [
      KLEIDI_MAIN,
      'serve',
      '--backend',
      s.backend,
      '--socket',
      s.socket,
      '--state-dir',
      s.stateDir,
      '--http-address',
      '',
      '--log-level',
      s.logLevel ?? 'debug',
      ...(s.extraArgs ?? []),
    ];
  }

  /**
   * Starts `kleidi serve` and waits until Status answers healthz "ok" (or `anyAnswer`: any Status
   * answer; or until `ready` holds for a sample, e.g. a Status refused with a given error).
   */
  async start(
    opts: { anyAnswer?: boolean; ready?: (s: StatusSample) => boolean; timeoutMs?: number } = {},
  ): Promise<number> {
    if (this.running) throw new Error(`${this.spec.name} already running`);
    const log = openSync(this.logFile, 'a');
    writeSync(log, `# ---- start ${++this.starts} at ${new Date().toISOString()}\n`);
    const [cmd, ...pre] = [...(this.spec.prefix ?? []), NODE];
    const proc = spawn(cmd!, [...pre, ...this.args()], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        // A campaign opens far more connections than an apiserver (one or two): load generators,
        // a health sampler, a Status client per poll, journal verifiers. Under load their closes
        // lag, and the default cap of 16 refused new ones (ECONNRESET), which read as outages and
        // lost journal entries. The cap has its own test (test/integration/socket-bounds.test.ts).
        KLEIDI_SOCKET_MAX_CONNECTIONS: '64',
        ...this.spec.env,
      },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.proc = proc;
    this.exitWaiter = new Promise((r) => proc.once('exit', (code) => r(code)));
    const t0 = Date.now();
    const until = t0 + (opts.timeoutMs ?? 30_000);
    for (;;) {
      if (!this.running)
        throw new Error(`${this.spec.name} exited with ${proc.exitCode ?? proc.signalCode}; see ${this.logFile}`);
      const s = await statusOnce(this.spec.socket, 1_000);
      if (opts.ready ? opts.ready(s) : s.answered && (opts.anyAnswer || s.healthz === 'ok')) return Date.now() - t0;
      if (Date.now() > until)
        throw new Error(
          `${this.spec.name} not healthy after ${opts.timeoutMs ?? 30_000} ms (${s.healthz ?? s.code}); see ${this.logFile}`,
        );
      await sleep(100);
    }
  }

  /** Sends `signal` and waits for the exit; resolves with the exit code (null after a kill). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!this.proc || !this.exitWaiter) return null;
    if (this.running) this.proc.kill(signal);
    const timer = setTimeout(() => this.proc?.kill('SIGKILL'), 20_000);
    const code = await this.exitWaiter;
    clearTimeout(timer);
    return code;
  }
}

export interface StatusSample {
  readonly answered: boolean;
  readonly healthz?: string;
  readonly keyId?: string;
  readonly code?: number;
  readonly message?: string;
}

/** One Status call on a fresh connection (no reconnect backoff carried over from earlier polls). */
export async function statusOnce(socket: string, deadlineMs: number): Promise<StatusSample> {
  const c = new KmsTestClient(socket);
  try {
    const r = await c.status(deadlineMs);
    return { answered: true, healthz: r.healthz, keyId: r.keyId };
  } catch (err) {
    const e = err as { code?: number; details?: string };
    return {
      answered: false,
      ...(e.code !== undefined ? { code: e.code } : {}),
      ...(e.details ? { message: e.details } : {}),
    };
  } finally {
    c.close();
  }
}

/** Runs a kleidi CLI command (init, rotate, keys) and collects its output into a log file too. */
export function runCli(
  name: string,
  args: readonly string[],
  env: Record<string, string>,
  prefix: readonly string[] = [],
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const [cmd, ...pre] = [...prefix, NODE];
  const t0 = Date.now();
  const proc = spawn(cmd!, [...pre, KLEIDI_MAIN, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // A command that should have refused to start but serves instead must not hang the campaign.
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    proc.once('close', (code) => {
      clearTimeout(timer);
      const log = openSync(join(LOGS, `${name}.log`), 'a');
      writeSync(log, `# ---- kleidi ${args.join(' ')} → exit ${code}\n${stdout}${stderr}`);
      closeSync(log);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}
