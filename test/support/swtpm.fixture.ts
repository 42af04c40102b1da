import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort, onAFreePort } from './vault-server.fixture.js';

/**
 * Software TPMs for the tpm backend's tests: swtpm 0.7 from Debian (installed
 * by scripts/setup-swtpm.sh), one process per simulated node, each with its
 * own state directory and two loopback ports (data P, control P + 1). The data
 * socket carries raw TPM 2.0 commands (swtpm(8)); swtpm serves one data
 * client at a time. Every instance is killed when the test process exits.
 */
export interface Swtpm {
  readonly port: number;
  readonly ctrlPort: number;
  readonly dir: string;
  /** TPM2TOOLS_TCTI for tpm2-tools against this instance. */
  readonly tcti: string;
  /** Runs a tpm2-tools command against this instance; resolves to stdout. */
  tools(cmd: string, args: readonly string[], cwd?: string): Promise<string>;
  /** Kills swtpm abruptly (SIGKILL), keeping its state. */
  kill(): Promise<void>;
  /** Starts it again on the same ports with the same state (after kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

let installed = false;

/** Installs swtpm and tpm2-tools when missing; fails, never skips, when it cannot. */
function requireSwtpm(): void {
  if (installed) return;
  const script = resolve(import.meta.dirname, '../../scripts/setup-swtpm.sh');
  try {
    execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`scripts/setup-swtpm.sh failed:\n${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
  installed = true;
}

export interface SwtpmOptions {
  /**
   * false: swtpm starts without TPM2_Startup, so the first command is
   * answered TPM_RC_INITIALIZE (as a real TPM before the firmware's Startup).
   */
  readonly startupClear?: boolean;
}

export async function startSwtpm(opts: SwtpmOptions = {}): Promise<Swtpm> {
  requireSwtpm();
  const dir = await mkdtemp(join(tmpdir(), 'kleidi-swtpm-'));
  return onAFreePort(async () => {
    // tpm2-tss' swtpm TCTI (TPM2TOOLS_TCTI=swtpm:host=...,port=P) finds the control channel at P + 1.
    const port = await freePort();
    const ctrlPort = port + 1;
    if (ctrlPort > 65535 || !(await isFree(ctrlPort))) throw new Error(`port ${ctrlPort} is taken`);
    let proc = await launch(dir, port, ctrlPort, opts.startupClear ?? true);
    const tcti = `swtpm:host=127.0.0.1,port=${port}`;
    return {
      port,
      ctrlPort,
      dir,
      tcti,
      async tools(cmd, args, cwd = dir) {
        const { stdout } = await promisify(execFile)(cmd, [...args], {
          cwd,
          env: { ...process.env, TPM2TOOLS_TCTI: tcti },
          encoding: 'utf8',
        });
        return stdout;
      },
      async kill() {
        await terminate(proc, 'SIGKILL');
      },
      async restart() {
        proc = await launch(dir, port, ctrlPort, opts.startupClear ?? true);
      },
      async stop() {
        await terminate(proc, 'SIGTERM');
        await rm(dir, { recursive: true, force: true });
      },
    };
  });
}

async function launch(dir: string, port: number, ctrlPort: number, startupClear: boolean): Promise<ChildProcess> {
  const flags = startupClear ? 'not-need-init,startup-clear' : 'not-need-init';
  const proc = spawn(
    'swtpm',
    [
      'socket',
      '--tpm2',
      '--server',
      `type=tcp,port=${port},bindaddr=127.0.0.1`,
      '--ctrl',
      `type=tcp,port=${ctrlPort},bindaddr=127.0.0.1`,
      '--flags',
      flags,
      '--tpmstate',
      `dir=${dir}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.add(proc);
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code) => {
      running.delete(proc);
      reject(new Error(`swtpm exited (${code}) before listening: ${stderr}`));
    }),
  );
  // The control port is probed (the data port serves one client at a time).
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await Promise.race([canConnect(ctrlPort), exited]);
    if (up) return proc;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`swtpm did not listen on 127.0.0.1:${ctrlPort} within 10 s: ${stderr}`);
    }
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

async function isFree(port: number): Promise<boolean> {
  return !(await canConnect(port));
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      ok(true);
    });
    s.once('error', () => ok(false));
  });
}

async function terminate(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((ok) => proc.once('exit', ok));
  proc.kill(signal);
  await gone;
  running.delete(proc);
}
