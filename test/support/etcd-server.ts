import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { Client, type ChannelCredentials, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { freePort } from './free-port.js';

/**
 * The etcd program of the end-to-end tests (test/e2e/control-plane/etcd, a
 * real etcd server embedded from go.etcd.io/etcd/server/v3), built by
 * `bash scripts/setup-control-plane.sh --etcd`, which the full test command
 * runs. A missing binary fails the test that needs it, with that command.
 */
function etcdBinary(): string {
  const bin =
    process.env.KLEIDI_ETCD_BIN ??
    join(process.env.KLEIDI_CONTROL_PLANE_CACHE ?? join(homedir(), '.cache/kleidi/control-plane'), 'etcd');
  if (!existsSync(bin)) {
    throw new Error(
      `no etcd program at ${bin}: run bash scripts/setup-control-plane.sh --etcd (the full test command does)`,
    );
  }
  return realpathSync(bin);
}

export interface EtcdTls {
  readonly certFile: string;
  readonly keyFile: string;
  /** Require client certificates signed by this CA. */
  readonly trustedCaFile: string;
}

/** One etcd member on loopback, with a test client that writes (the scan under test never does). */
export class EtcdServer {
  private child: ChildProcess | undefined;
  private client: Client | undefined;
  url = '';
  log = '';

  constructor(
    private readonly dir: string,
    private readonly tls?: EtcdTls & { readonly clientCreds: ChannelCredentials },
  ) {}

  async start(): Promise<void> {
    const dataDir = join(this.dir, 'etcd-data');
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const [client, peer] = [await freePort(), await freePort()];
    const args = ['serve', '-data-dir', dataDir, '-client-port', String(client), '-peer-port', String(peer)];
    if (this.tls) {
      args.push(
        '-cert-file',
        this.tls.certFile,
        '-key-file',
        this.tls.keyFile,
        '-trusted-ca-file',
        this.tls.trustedCaFile,
      );
    }
    const child = spawn(etcdBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`etcd not ready after 60 s:\n${this.log}`)), 60_000);
      child.stdout?.on('data', (d: Buffer) => {
        this.log += d.toString();
        if (this.log.includes('ready\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`etcd exited with ${code}:\n${this.log}`));
      });
    });
    this.url = `${this.tls ? 'https' : 'http'}://127.0.0.1:${client}`;
    this.client = new Client(`127.0.0.1:${client}`, this.tls?.clientCreds ?? credentials.createInsecure());
  }

  async stop(): Promise<void> {
    this.client?.close();
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }

  /** KV.Put {bytes key = 1; bytes value = 2;}: the header revision after the write. */
  async put(key: string, value: Uint8Array): Promise<number> {
    const req = new BinaryWriter()
      .tag(1, WireType.LengthDelimited)
      .string(key)
      .tag(2, WireType.LengthDelimited)
      .bytes(value)
      .finish();
    return headerRevision(await this.unary('/etcdserverpb.KV/Put', req));
  }

  /** The store's current revision, from a Range of one key that need not exist. */
  async revision(): Promise<number> {
    const req = new BinaryWriter().tag(1, WireType.LengthDelimited).string('/revision-probe').finish();
    return headerRevision(await this.unary('/etcdserverpb.KV/Range', req));
  }

  /** KV.Compact {int64 revision = 1; bool physical = 2;}: revisions before `revision` are gone. */
  async compact(revision: number): Promise<void> {
    const req = new BinaryWriter().tag(1, WireType.Varint).int64(revision).tag(2, WireType.Varint).bool(true).finish();
    await this.unary('/etcdserverpb.KV/Compact', req);
  }

  private unary(method: string, req: Uint8Array): Promise<Uint8Array> {
    const c = this.client;
    if (!c) return Promise.reject(new Error('etcd not started'));
    return new Promise((resolve, reject) =>
      c.makeUnaryRequest(
        method,
        (b: Uint8Array) => Buffer.from(b),
        (b: Buffer) => new Uint8Array(b),
        req,
        new Metadata(),
        { deadline: Date.now() + 20_000 },
        (err: ServiceError | null, res?: Uint8Array) => (err ? reject(err) : resolve(res ?? new Uint8Array())),
      ),
    );
  }
}

/** ResponseHeader.revision (field 3) of a response whose field 1 is the header. */
function headerRevision(msg: Uint8Array): number {
  const r = new BinaryReader(msg);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no !== 1 || wt !== WireType.LengthDelimited) {
      r.skip(wt);
      continue;
    }
    const h = new BinaryReader(r.bytes());
    while (h.pos < h.len) {
      const [hno, hwt] = h.tag();
      if (hno === 3) return Number(h.int64());
      h.skip(hwt);
    }
  }
  return 0;
}
