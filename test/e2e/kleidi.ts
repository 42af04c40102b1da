import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { copyFile, mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { childEnv, REPO, run } from '../backends/harness.js';
import { KmsTestClient } from '../support/grpc-client.js';
import { Child, waitFor } from './process.js';

const PINNED_NODE = join(REPO, 'node_modules/.bin/node');
const NODE = existsSync(PINNED_NODE) ? realpathSync(PINNED_NODE) : process.execPath;
const MAIN = join(REPO, 'dist/main.js');

/** The fields of `kleidi usage --output json` the scenarios read (docs/operations.md). */
export interface UsageJson {
  readonly revision: number;
  readonly scanned: number;
  readonly keyIds: readonly {
    readonly provider: string;
    readonly keyId: string;
    readonly count: number;
    readonly version?: number;
    readonly current?: boolean;
  }[];
  readonly unusedVersions: readonly { readonly version: number; readonly keyId: string; readonly current: boolean }[];
}

/** The fields of `kleidi retire --output json` the scenarios read (docs/operations.md). */
export interface RetireJson {
  readonly retired: boolean;
  readonly action?: string;
  readonly refusals?: readonly { readonly kind: string; readonly count?: number }[];
}

/**
 * One kleidi node: `kleidi serve` from dist/ as a real process on its own socket and state
 * directory, pointed at the backend's test server through `env` (KLEIDI_* settings).
 */
export class KleidiNode {
  private readonly child: Child;
  readonly socket: string;
  readonly stateDir: string;

  constructor(
    readonly name: string,
    dir: string,
    private readonly backend: string,
    private readonly env: Readonly<Record<string, string>>,
  ) {
    this.child = new Child(name, join(dir, `${name}.log`));
    this.socket = join(dir, `${name}.sock`);
    this.stateDir = join(dir, `${name}-state`);
  }

  /** Starts `kleidi serve` and waits until Status answers healthz "ok"; the seconds it took. */
  async start(): Promise<number> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    const t0 = performance.now();
    this.child.start(
      NODE,
      [
        MAIN,
        'serve',
        ...['--backend', this.backend, '--socket', `unix://${this.socket}`, '--state-dir', this.stateDir],
        // Off: its default TCP port would collide between two nodes on one machine.
        ...['--http-address', ''],
      ],
      childEnv(this.env),
    );
    let exited = false;
    void this.child.exited().then(() => (exited = true));
    await waitFor(
      `${this.name} Status`,
      async () => {
        if (exited) throw new Error(`${this.name} exited during startup`);
        return (await this.status()).healthz === 'ok';
      },
      30_000,
      100,
    );
    return Math.round((performance.now() - t0) / 100) / 10;
  }

  /** SIGTERM (graceful: kleidi removes its socket) or SIGKILL (the socket file stays behind). */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return this.child.stop(signal);
  }

  get running(): boolean {
    return this.child.running;
  }

  get socketLeft(): boolean {
    return existsSync(this.socket);
  }

  async status(): Promise<{ healthz: string; keyId: string }> {
    const c = new KmsTestClient(this.socket);
    try {
      const st = await c.status(2_000);
      return { healthz: st.healthz, keyId: st.keyId };
    } finally {
      c.close();
    }
  }

  /** `kleidi init`: the backend's first KEK (for local, this node's keyring). */
  async init(): Promise<void> {
    await this.cli('init');
  }

  /** `kleidi rotate` as an operator runs it on this node. */
  async rotate(): Promise<void> {
    await this.cli('rotate');
  }

  /**
   * `kleidi usage` on this node's configuration against `etcdUrl`, as an operator runs it after a
   * rotation: the report (JSON) and the seconds the scan took.
   */
  async usage(etcdUrl: string, resources: readonly string[]): Promise<{ report: UsageJson; seconds: number }> {
    const t0 = performance.now();
    const out = await run(
      NODE,
      [
        MAIN,
        'usage',
        ...['--backend', this.backend, '--state-dir', this.stateDir],
        ...['--etcd-servers', etcdUrl, '--resources', resources.join(','), '--output', 'json'],
      ],
      childEnv(this.env),
    );
    return { report: JSON.parse(out) as UsageJson, seconds: Math.round((performance.now() - t0) / 100) / 10 };
  }

  /** `kleidi keys --output json`: version and key_id of every version the backend lists. */
  async keys(): Promise<{ version: number; keyId: string; current: boolean }[]> {
    const out = await run(
      NODE,
      [MAIN, 'keys', '--backend', this.backend, '--state-dir', this.stateDir, '--output', 'json'],
      childEnv(this.env),
    );
    return (JSON.parse(out) as { keys: { version: number; keyId: string; current: boolean }[] }).keys;
  }

  /**
   * `kleidi retire VERSION` as the runbook runs it on this node (a fresh scan of `etcdUrl`, this
   * node's socket): its exit code (0 retired, 3 refused) and its JSON verdict.
   */
  retire(version: number, etcdUrl: string): Promise<{ code: number; verdict: RetireJson; stderr: string }> {
    const args = [
      MAIN,
      'retire',
      String(version),
      ...['--backend', this.backend, '--state-dir', this.stateDir, '--socket', `unix://${this.socket}`],
      ...['--etcd-servers', etcdUrl, '--output', 'json'],
    ];
    return new Promise((resolve, reject) =>
      execFile(NODE, args, { cwd: REPO, env: childEnv(this.env), maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        try {
          resolve({ code, verdict: JSON.parse(stdout) as RetireJson, stderr });
        } catch {
          reject(new Error(`kleidi retire ${version} exited ${code} without a verdict:\n${stderr}${stdout}`));
        }
      }),
    );
  }

  /**
   * A kleidi command as a child process on this node's configuration, its output piped (not a
   * terminal), for a scenario that signals it while it runs (`kleidi reencrypt`).
   */
  spawnCli(command: string, args: readonly string[]): ChildProcess {
    return spawn(NODE, [MAIN, command, ...['--backend', this.backend, '--state-dir', this.stateDir], ...args], {
      env: childEnv(this.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** `kleidi rotate --stage` on this node: the staged version (number and key_id). */
  async stage(): Promise<{ version: number; keyId: string }> {
    const out = await this.cliJson(['rotate', '--stage']);
    return (JSON.parse(out) as { staged: { version: number; keyId: string } }).staged;
  }

  /** `kleidi rotate --promote VERSION` on this node. */
  async promote(version: number): Promise<void> {
    await this.cliJson(['rotate', '--promote', String(version)]);
  }

  private cliJson(args: readonly string[]): Promise<string> {
    return run(
      NODE,
      [MAIN, ...args, '--backend', this.backend, '--state-dir', this.stateDir, '--output', 'json'],
      childEnv(this.env),
    );
  }

  private async cli(command: 'init' | 'rotate'): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    await run(NODE, [MAIN, command, '--backend', this.backend, '--state-dir', this.stateDir], childEnv(this.env));
  }

  /** After a rotation on `from`: the local backend's keyring goes to every node; other backends share the key. */
  async copyKeyringIfLocal(from: KleidiNode): Promise<void> {
    if (this.backend === 'local') await this.copyKeyringFrom(from);
  }

  /**
   * HA with the local backend: installs `from`'s keyring file here as docs/operations.md says
   * (copy next to the target with mode 0600, then rename into place, so the swap is atomic).
   */
  async copyKeyringFrom(from: KleidiNode): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    const tmp = join(this.stateDir, 'keyring.json.new');
    await copyFile(join(from.stateDir, 'keyring.json'), tmp);
    await rename(tmp, join(this.stateDir, 'keyring.json'));
  }
}
