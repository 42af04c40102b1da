import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Pkcs11Options } from '#src/adapters/outbound/pkcs11/pkcs11.options.js';
import type { KeyVersion } from '#src/domain/model/key-version.js';
import type { SoftHsmFixture } from './softhsm.fixture.js';

/** A kleidi PKCS#11 wrapper running in its own process, as on another control-plane node. */
export interface Pkcs11Node {
  version(): Promise<KeyVersion>;
  /** Returns the kleidi envelope (base64), i.e. what the apiserver stores. */
  wrap(seed: Uint8Array, version: KeyVersion): Promise<string>;
  unwrap(envelope: string): Promise<Uint8Array>;
  stop(): Promise<void>;
}

/** Fails with `kind` set to the KmsError kind the child reported. */
export class NodeCallError extends Error {
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}

const child = fileURLToPath(new URL('./pkcs11-node.child.ts', import.meta.url));
const hooks = fileURLToPath(new URL('./ts-child-hooks.mjs', import.meta.url));

/** Starts a child process on `fx`'s token; resolves once its wrapper is open. */
export async function startPkcs11Node(fx: SoftHsmFixture, overrides: Partial<Pkcs11Options> = {}): Promise<Pkcs11Node> {
  const proc = spawn(process.execPath, ['--experimental-transform-types', '--no-warnings', '--import', hooks, child], {
    env: { ...process.env, SOFTHSM2_CONF: fx.conf, KLEIDI_TEST_PKCS11_OPTIONS: JSON.stringify(fx.options(overrides)) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let ready!: () => void;
  const started = new Promise<void>((resolve, reject) => {
    ready = resolve;
    proc.once('exit', (code) => reject(new Error(`pkcs11 node exited with ${code} before it was ready`)));
  });
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const msg = JSON.parse(line) as {
      ready?: true;
      id: number;
      ok: boolean;
      result?: unknown;
      kind?: string;
      message?: string;
    };
    if (msg.ready) return ready();
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.ok) p?.resolve(msg.result);
    else p?.reject(new NodeCallError(msg.kind ?? 'internal', msg.message ?? ''));
  });
  let next = 0;
  const call = (req: Record<string, unknown>) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      proc.stdin.write(`${JSON.stringify({ id, ...req })}\n`);
    });
  await started;
  return {
    version: async () => (await call({ op: 'version' })) as KeyVersion,
    wrap: async (seed, version) =>
      (await call({ op: 'wrap', seed: Buffer.from(seed).toString('base64'), version })) as string,
    unwrap: async (envelope) =>
      new Uint8Array(Buffer.from((await call({ op: 'unwrap', envelope })) as string, 'base64')),
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.stdin.end();
      }),
  };
}
