import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { BackendDefinition, BackendTesting } from '#src/composition/backends/backend.js';

/**
 * How a backend's test server starts, for every runner that needs one: the conformance scenarios
 * (`npm run test:backend`), the benchmark and `npm run backend:server`. The registry names each
 * backend's harness module (BackendTesting.harness); it exports these members.
 */
export interface BackendHarness {
  /** Idempotent prerequisites: install or build the server (scripts/setup-softhsm.sh, …). */
  prepare(): Promise<void>;
  /**
   * A fresh server of its own, holding the backend's first key-encryption key (through
   * `kleidi init` when the backend needs it). `dir` is an empty directory for its files.
   */
  start(dir: string, opts?: StartOptions): Promise<TestServer>;
  /** What the benchmark compares kleidi on this backend with; a Go reference plugin when absent. */
  readonly bench?: BenchComparison;
}

export interface StartOptions {
  /** How to run kleidi (for `kleidi init`): an argv prefix; the pinned Node on dist/main.js by default. */
  readonly kleidi?: readonly string[];
}

export interface TestServer {
  /** `KLEIDI_*` settings and other variables (e.g. SOFTHSM2_CONF) that point kleidi at this server. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * For a backend whose nodes hold key material of their own (tpm: one TPM per node), what the
   * conformance runner needs to make its two-node scenario two real nodes.
   */
  readonly conformance?: {
    /** node-b's own settings, over `env` (test/conformance `-node-b-env`). */
    readonly nodeBEnv: Readonly<Record<string, string>>;
    /**
     * sh command that adds a current KEK on every node (`-rotate-cmd`); it sees
     * $CONFORMANCE_KLEIDI, $CONFORMANCE_BACKEND and $CONFORMANCE_STATE_DIR and `env`.
     */
    readonly rotateCmd: string;
  };
  /** The server and its version, for reports (e.g. the benchmark's version table). */
  readonly version?: string;
  stop(): Promise<void>;
}

/**
 * A benchmark target next to kleidi: a driver under bench/raw that calls the server directly
 * (its settings from the server's env), or one of the bench's own plugins (bench/go-reference,
 * bench/node-floor).
 */
type BenchTarget =
  | { readonly label: string; readonly raw: string; args(env: Readonly<Record<string, string>>): string[] }
  | { readonly plugin: 'go-reference' | 'node-floor' };

export interface BenchComparison {
  /** kleidi ÷ baseline is the ratio the benchmark reports. */
  readonly baseline: BenchTarget;
  readonly references?: readonly BenchTarget[];
}

export const REPO = resolve(import.meta.dirname, '../..');
const PINNED_NODE = join(REPO, 'node_modules/.bin/node');
/** The pinned Node 24 (devDependency "node") when installed, else this process's. */
const NODE = existsSync(PINNED_NODE) ? realpathSync(PINNED_NODE) : process.execPath;
const KLEIDI = [NODE, join(REPO, 'dist/main.js')] as const;

/** The environment of a child: ours without KLEIDI_* (kleidi reads those as settings and rejects unknown ones). */
export function childEnv(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('KLEIDI_')) env[k] = v;
  return { ...env, ...extra };
}

const execFileAsync = promisify(execFile);

/**
 * Runs a command; resolves with its stdout, rejects with its output when it fails. The setup
 * scripts get our whole environment: they read KLEIDI_VAULT_SERVER_CACHE and KLEIDI_PKCS11_MODULE.
 */
export async function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const r = await execFileAsync(cmd, [...args], { cwd: REPO, env, maxBuffer: 16 << 20 });
    return r.stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}

/** The command that runs kleidi: `opts.kleidi`, or the pinned Node on dist/main.js. */
export function kleidiArgv(opts: StartOptions = {}): readonly string[] {
  return opts.kleidi ?? KLEIDI;
}

/** `kleidi init` against a test server (its env only); idempotent, never overwrites a key. */
export async function kleidiInit(
  backend: string,
  stateDir: string,
  env: Readonly<Record<string, string>>,
  opts: StartOptions = {},
): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const [cmd, ...prefix] = kleidiArgv(opts);
  if (cmd === undefined) throw new Error('StartOptions.kleidi is empty');
  await run(cmd, [...prefix, 'init', '--backend', backend, '--state-dir', stateDir], childEnv(env));
}

/** The harness module a backend's registration names; fails for a backend without `testing`. */
export async function loadHarness(def: Pick<BackendDefinition, 'name' | 'testing'>): Promise<BackendHarness> {
  const testing: BackendTesting | undefined = def.testing;
  if (!testing) throw new Error(`the ${def.name} backend declares no test server (testing) in its registration`);
  const mod = (await import(pathToFileURL(join(REPO, testing.harness)).href)) as Partial<BackendHarness>;
  if (typeof mod.prepare !== 'function' || typeof mod.start !== 'function')
    throw new Error(`${testing.harness} must export prepare() and start(dir)`);
  return mod as BackendHarness;
}
