import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KmsTestClient } from './grpc-client.js';

const KLEIDI_MAIN = resolve(import.meta.dirname, '../../dist/main.js');
const NODE = process.execPath;

export interface KleidiProcess {
  readonly proc: ChildProcess;
  readonly socket: string;
  readonly stateDir: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A temporary directory for one test's socket and state. */
export async function tempDir(prefix = 'kleidi-it-'): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs the built CLI (`dist/main.js`) with `args`; no secrets in argv, ever. */
export function runKleidi(args: string[], env: Record<string, string> = {}, stdin?: Uint8Array) {
  // Port 0: parallel test processes must not fight over the default HTTP address 127.0.0.1:8181.
  const base = { KLEIDI_HTTP_ADDRESS: '127.0.0.1:0' };
  const proc = spawn(NODE, [KLEIDI_MAIN, ...args], { env: { ...process.env, ...base, ...env }, stdio: 'pipe' });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  proc.stdin.end(stdin);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, exited, output: () => out };
}

/** Starts `kleidi serve` and waits until Status answers (or the process exits). */
export async function startKleidi(
  dir: string,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<KleidiProcess> {
  const socket = join(dir, 'kms.sock');
  const stateDir = join(dir, 'state');
  const args = ['serve', '--socket', socket, '--state-dir', stateDir, '--refresh-interval', '200ms', ...extraArgs];
  const run = runKleidi(args, { KLEIDI_LOG_LEVEL: 'debug', ...env });
  let exitCode: number | null | undefined;
  void run.exited.then((c) => (exitCode = c));
  // One channel whose reconnect backoff stays short: grpc-js otherwise waits 1 s, 1.6 s, … up to
  // 120 s between attempts after a failed connection (grpc/doc/connection-backoff.md), which on a
  // loaded machine outlasted this deadline although kleidi was ready. Attempts of 2 s, so a slow
  // first connection (tests that set a 500 ms handshake timeout) still gets through.
  const client = new KmsTestClient(socket, {
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 500,
  });
  // Generous: a readiness wait, not a start-time check (the benchmark measures start to ready).
  const deadline = Date.now() + 30_000;
  try {
    for (;;) {
      if (exitCode !== undefined) throw new Error(`kleidi exited with ${exitCode}:\n${run.output()}`);
      if (Date.now() > deadline) throw new Error(`kleidi did not become ready:\n${run.output()}`);
      const ok = await client.status(2_000).then(
        () => true,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    client.close();
  }
  return {
    ...run,
    socket,
    stateDir,
    stop: async (signal = 'SIGTERM') => {
      if (exitCode === undefined) run.proc.kill(signal);
      return run.exited;
    },
  };
}
