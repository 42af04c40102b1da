import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateAliasCommand, CreateKeyCommand, type KeyMetadata, KMSClient } from '@aws-sdk/client-kms';

/**
 * A real implementation of the AWS KMS API for the aws backend's tests:
 * local-kms (github.com/nsmithuk/local-kms), built from Go modules by
 * scripts/setup-local-kms.sh and patched to listen on 127.0.0.1 only. Every
 * server gets a fresh data directory and is killed when the test process
 * exits, even if a suite forgets to stop it. local-kms accepts any
 * credentials and does not check signatures.
 */
export const LOCAL_KMS_REGION = 'eu-west-2';
const LOCAL_KMS_ACCOUNT = '111122223333';

let binary: string | undefined;

/**
 * The local-kms binary: built on first use (tens of seconds, Go and the Go
 * module proxy needed), then reused from the per-user tools cache. Fails,
 * never skips, when it cannot be built.
 */
function localKmsBinary(): string {
  if (binary) return binary;
  const script = resolve(import.meta.dirname, '../../scripts/setup-local-kms.sh');
  let out: string;
  try {
    out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`could not build local-kms with scripts/setup-local-kms.sh (needs Go >= 1.24):\n${stderr}`);
  }
  binary = out.trim().split('\n').at(-1) ?? '';
  return binary;
}

export interface LocalKms {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly port: number;
  readonly dir: string;
  /** An SDK client for test setup (creating keys and aliases), with throwaway credentials. */
  readonly client: KMSClient;
  /** A symmetric encryption key; `alias` is pointed at it when given. */
  createKey(alias?: string, input?: { KeySpec?: string; KeyUsage?: string }): Promise<KeyMetadata>;
  /** Kills the server abruptly (SIGKILL), keeping its data. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same data (after kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** Starts local-kms on a free loopback port (the server picks it: port 0) with a fresh data directory. */
export async function startLocalKms(): Promise<LocalKms> {
  const bin = localKmsBinary();
  const dir = await mkdtemp(join(tmpdir(), 'kleidi-local-kms-'));
  mkdirSync(join(dir, 'data'));
  let proc = await launch(bin, dir, 0);
  const port = proc.port;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = testClient(endpoint);
  return {
    endpoint,
    port,
    dir,
    client,
    async createKey(alias, input = {}) {
      const out = await client.send(
        new CreateKeyCommand({
          ...(input.KeySpec ? { KeySpec: input.KeySpec as never } : {}),
          ...(input.KeyUsage ? { KeyUsage: input.KeyUsage as never } : {}),
        }),
      );
      const meta = out.KeyMetadata;
      if (!meta?.KeyId) throw new Error('local-kms created no key');
      if (alias) await client.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: meta.KeyId }));
      return meta;
    },
    async kill() {
      await stopProcess(proc.child, 'SIGKILL');
    },
    async restart() {
      await stopProcess(proc.child, 'SIGKILL');
      proc = await launch(bin, dir, port);
    },
    async stop() {
      client.destroy();
      await stopProcess(proc.child, 'SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An SDK client for setup and checks, outside the code under test. */
function testClient(endpoint: string): KMSClient {
  return new KMSClient({
    region: LOCAL_KMS_REGION,
    endpoint,
    credentials: { accessKeyId: 'AKIDLOCALKMSTEST', secretAccessKey: 'local-kms-ignores-signatures' },
    maxAttempts: 1,
  });
}

/**
 * Points the SDK's default credential chain of this test process at static
 * throwaway credentials, and away from the developer's ~/.aws files and from
 * instance metadata (which would only time out).
 */
export function useTestCredentials(dir: string): void {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDKLEIDITEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'kleidi-test-secret';
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  process.env.AWS_CONFIG_FILE = join(dir, 'no-aws-config');
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-aws-credentials');
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
}

async function launch(bin: string, dir: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  const log = join(dir, 'server.log');
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    PORT: String(port),
    KMS_DATA_PATH: join(dir, 'data'),
    KMS_SEED_PATH: join(dir, 'no-seed.yaml'),
    KMS_REGION: LOCAL_KMS_REGION,
    KMS_ACCOUNT_ID: LOCAL_KMS_ACCOUNT,
  };
  const child = spawn(bin, [], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return new Promise((ok, fail) => {
    let seen = '';
    const timer = setTimeout(() => fail(new Error(`local-kms did not start within 20 s; see ${log}`)), 20_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8').replace(ANSI, '');
      appendFileSync(log, text);
      seen += text;
      const m = /started on 127\.0\.0\.1:(\d+)/.exec(seen);
      if (m?.[1]) {
        clearTimeout(timer);
        ok({ child, port: Number(m[1]) });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`local-kms exited with ${code}; see ${log}`));
    });
  });
}

async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((ok) => proc.once('exit', ok));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
