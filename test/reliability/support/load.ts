import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEADLINE_MS } from './deadline.js';
import { JOURNALS, LOADGEN, LOGS } from './env.js';

/** One call as the apiserver's client saw it. */
export interface Call {
  readonly start: number;
  readonly end: number;
  readonly op: 'encrypt' | 'decrypt' | 'decrypt-old';
  /** OK, a grpc-go code name (Unavailable, DeadlineExceeded, …) or WRONG (OK with other bytes). */
  readonly code: string;
  /** When the loadgen saw the call's own deadline (start + 3 s) pass; undefined when the call ended first. */
  readonly deadlineSeen?: number;
}

export interface LoadSummary {
  readonly duration_s: number;
  readonly iterations: number;
  readonly codes: Record<string, Record<string, number>>;
  readonly wrong: number;
  readonly journaled: number;
}

export interface VerifySummary {
  readonly entries: number;
  readonly ok: number;
  readonly lost: number;
  readonly wrong: number;
  readonly retried: number;
  readonly codes: Record<string, number>;
  readonly key_ids: Record<string, number>;
  readonly failures?: string[];
}

export interface LoadOptions {
  /** Iterations per second over all callers; each is an Encrypt, a Decrypt, and every 3rd a Decrypt of an older ciphertext. */
  readonly rate?: number;
  readonly concurrency?: number;
  /** Earlier journals whose ciphertexts join the pool of old ciphertexts to decrypt. */
  readonly preload?: readonly string[];
}

/**
 * The load: test/reliability/loadgen, i.e. kube-apiserver's own KMSv2 client
 * (kmsv2.NewGRPCService, k8s.io/apiserver v0.35.10) with a 3 s deadline.
 */
export class Load {
  readonly journal: string;
  readonly callsFile: string;
  private readonly proc: ChildProcess;
  private stdout = '';
  private stderr = '';
  private readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    socket: string,
    opts: LoadOptions = {},
  ) {
    if (!existsSync(LOADGEN))
      throw new Error(`loadgen binary ${LOADGEN} missing: run scripts/reliability.mjs (it builds it)`);
    this.journal = join(JOURNALS, `${name}.jsonl`);
    this.callsFile = join(JOURNALS, `${name}.calls.csv`);
    // The loadgen appends: a file from an earlier run must not mix in.
    rmSync(this.journal, { force: true });
    rmSync(this.callsFile, { force: true });
    const args = [
      '-mode',
      'load',
      '-socket',
      socket,
      '-journal',
      this.journal,
      '-calls',
      this.callsFile,
      '-timeout',
      `${DEADLINE_MS}ms`,
      '-rate',
      String(opts.rate ?? 60),
      '-concurrency',
      String(opts.concurrency ?? 4),
      '-klog',
      join(LOGS, 'apiserver-client-klog.log'),
    ];
    if (opts.preload?.length) args.push('-preload', opts.preload.filter((p) => existsSync(p)).join(','));
    this.proc = spawn(LOADGEN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((r) => this.proc.once('exit', (c) => r(c)));
  }

  /** SIGTERM: the callers finish their current call (≤ the deadline), files are flushed, the summary printed. */
  async stop(): Promise<LoadSummary> {
    this.proc.kill('SIGTERM');
    const code = await this.exited;
    if (code !== 0) throw new Error(`loadgen ${this.name} exited ${code}: ${this.stderr}`);
    return JSON.parse(this.stdout) as LoadSummary;
  }

  calls(): Call[] {
    return parseCalls(this.callsFile);
  }
}

function parseCalls(file: string): Call[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [start, end, op, code, seen] = line.split(',');
      const deadlineSeen = Number(seen);
      return {
        start: Number(start),
        end: Number(end),
        op: op as Call['op'],
        code: code ?? '',
        ...(deadlineSeen > 0 ? { deadlineSeen } : {}),
      };
    });
}

/** Decrypts every journal entry through the apiserver's client; transient codes are retried a few times. */
export async function verifyJournals(socket: string, journals: readonly string[]): Promise<VerifySummary> {
  const present = journals.filter((j) => existsSync(j));
  if (present.length === 0) return { entries: 0, ok: 0, lost: 0, wrong: 0, retried: 0, codes: {}, key_ids: {} };
  const proc = spawn(
    LOADGEN,
    [
      '-mode',
      'verify',
      '-socket',
      socket,
      '-journal',
      present.join(','),
      '-timeout',
      `${DEADLINE_MS}ms`,
      '-concurrency',
      '4',
      '-klog',
      join(LOGS, 'apiserver-client-klog.log'),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  if (code !== 0) throw new Error(`loadgen verify exited ${code}: ${err}`);
  return JSON.parse(out) as VerifySummary;
}
