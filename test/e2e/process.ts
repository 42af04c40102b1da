import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

/**
 * One long-running child of the end-to-end run (etcd, kube-apiserver, kleidi): its output goes
 * to a log file in the run's directory, and it dies with the runner (own process group, killed
 * on exit by run.ts).
 */
export class Child {
  private proc: ChildProcess | undefined;
  private exit: Promise<number | null> | undefined;
  private log: WriteStream | undefined;
  private static readonly all = new Set<Child>();

  constructor(
    readonly name: string,
    private readonly logPath: string,
  ) {}

  start(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, onStdout?: (line: string) => void): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.log = createWriteStream(this.logPath, { flags: 'a', mode: 0o600 });
    this.log.write(`\n--- e2e: starting ${cmd} ${args.join(' ')}\n`);
    const proc = spawn(cmd, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const log = this.log;
    proc.stdout?.on('data', (d: Buffer) => {
      log.write(d);
      if (onStdout) for (const line of d.toString().split('\n')) if (line) onStdout(line);
    });
    proc.stderr?.on('data', (d: Buffer) => log.write(d));
    this.exit = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
    this.proc = proc;
    Child.all.add(this);
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `limitMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', limitMs = 30_000): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    proc.kill(signal);
    const timer = setTimeout(() => this.killGroup(), limitMs);
    await this.exit;
    clearTimeout(timer);
    Child.all.delete(this);
    this.log?.end();
  }

  /** Resolves with the exit code when the process ends. */
  exited(): Promise<number | null> {
    return this.exit ?? Promise.resolve(null);
  }

  private killGroup(): void {
    const pid = this.proc?.pid;
    if (pid === undefined || !this.running) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      this.proc?.kill('SIGKILL');
    }
  }

  /** SIGKILLs every child still running (the runner's exit handler). */
  static killAll(): void {
    for (const c of Child.all) c.killGroup();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every `everyMs` until it returns true; the elapsed seconds, or an error after `limitMs`. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  limitMs: number,
  everyMs = 500,
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await probe().catch(() => false)) return Math.round((performance.now() - t0) / 100) / 10;
    if (performance.now() - t0 > limitMs) throw new Error(`${what}: not after ${Math.round(limitMs / 1000)} s`);
    await sleep(everyMs);
  }
}
