import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { freePort } from '../support/free-port.js';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Child } from './process.js';

const execFileAsync = promisify(execFile);

export { freePort } from '../support/free-port.js';

export interface RawValue {
  readonly key: string;
  readonly value: Buffer;
  readonly modRevision: number;
}

/**
 * The test etcd (test/e2e/control-plane/etcd, built by scripts/setup-control-plane.sh): one
 * member on loopback, and `get` to read what kube-apiserver stored, byte for byte.
 */
export class Etcd {
  private readonly child: Child;
  url = '';

  constructor(
    private readonly bin: string,
    private readonly dir: string,
  ) {
    this.child = new Child('etcd', join(dir, 'etcd.log'));
  }

  async start(): Promise<void> {
    const dataDir = join(this.dir, 'etcd-data');
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const [client, peer] = [await freePort(), await freePort()];
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    this.child.start(
      this.bin,
      ['serve', '-data-dir', dataDir, '-client-port', String(client), '-peer-port', String(peer)],
      process.env,
      (line) => line === 'ready' && ready(),
    );
    const exited = this.child.exited().then((c) => {
      throw new Error(`etcd exited with ${c} during startup (see ${this.dir}/etcd.log)`);
    });
    await Promise.race([isReady, exited]);
    this.url = `http://127.0.0.1:${client}`;
  }

  stop(): Promise<void> {
    return this.child.stop('SIGTERM');
  }

  /** Every key under `prefix` with its raw value. */
  async get(prefix: string): Promise<RawValue[]> {
    const { stdout } = await execFileAsync(this.bin, ['get', '-endpoint', this.url, '-prefix', prefix], {
      maxBuffer: 64 << 20,
    });
    return stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const o = JSON.parse(l) as { key: string; value: string; modRevision: number };
        return { key: o.key, value: Buffer.from(o.value, 'base64'), modRevision: o.modRevision };
      });
  }
}
