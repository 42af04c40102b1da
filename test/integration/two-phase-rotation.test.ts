import { copyFile, mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aDataKey } from '../support/builders.js';
import type { EncryptResponse } from '#src/adapters/inbound/grpc/gen/kms/v2/api_pb.js';
import { KmsTestClient } from '../support/grpc-client.js';
import { type KleidiProcess, runKleidi, startKleidi, tempDir } from '../support/kleidi-process.js';

interface Node {
  readonly name: string;
  readonly kleidi: KleidiProcess;
  readonly client: KmsTestClient;
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `kleidi <args> --state-dir <node's> --output json`, which must succeed; its JSON answer. */
async function cli<T>(node: Node, ...args: string[]): Promise<T> {
  const run = runKleidi([...args, '--state-dir', node.kleidi.stateDir, '--output', 'json']);
  const code = await run.exited;
  expect(code, run.output()).toBe(0);
  return JSON.parse(run.output()) as T;
}

/** What an operator does to distribute the keyring: copy the file, replacing the node's atomically. */
async function copyKeyring(from: Node, to: Node): Promise<void> {
  const tmp = join(to.kleidi.stateDir, 'keyring.json.incoming');
  await copyFile(join(from.kleidi.stateDir, 'keyring.json'), tmp);
  await rename(tmp, join(to.kleidi.stateDir, 'keyring.json'));
}

/**
 * Two-phase rotation on two real `kleidi serve` processes standing for two control-plane nodes
 * (separate state directories, a keyring copied between them by hand, late): node A stages,
 * node B receives the copy only later, A promotes, then B. At every step each node's writes
 * read on the other, which one-step rotation cannot promise (issue 19: `key_id ... is not in
 * this keyring` through the late node).
 */
describe('two-phase rotation across two kleidi processes sharing a copied keyring (local)', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let a: Node;
  let b: Node;

  beforeAll(async () => {
    tmp = await tempDir('kleidi-two-phase-');
    const ka = await startKleidi(join(tmp.dir, 'a'));
    // Node B starts from a copy of A's keyring, as a second control-plane node is set up.
    await mkdir(join(tmp.dir, 'b', 'state'), { recursive: true, mode: 0o700 });
    await copyFile(join(ka.stateDir, 'keyring.json'), join(tmp.dir, 'b', 'state', 'keyring.json'));
    const kb = await startKleidi(join(tmp.dir, 'b'));
    a = { name: 'A', kleidi: ka, client: new KmsTestClient(ka.socket) };
    b = { name: 'B', kleidi: kb, client: new KmsTestClient(kb.socket) };
  }, 60_000);
  afterAll(async () => {
    for (const n of [a, b]) {
      n?.client.close();
      await n?.kleidi.stop();
    }
    await tmp?.cleanup();
  });

  /** Each node writes, and the other reads what it wrote. Returns the key_ids written under. */
  async function crossReads(): Promise<{ a: string; b: string }> {
    const written: Record<string, EncryptResponse> = {};
    for (const [writer, reader] of [
      [a, b],
      [b, a],
    ] as const) {
      const seed = aDataKey();
      const enc = await writer.client.encrypt(seed);
      written[writer.name] = enc;
      const dec = await reader.client.decrypt(enc);
      expect(Buffer.from(dec.plaintext), `${reader.name} reads what ${writer.name} wrote`).toEqual(Buffer.from(seed));
    }
    return { a: written.A?.keyId ?? '', b: written.B?.keyId ?? '' };
  }

  const keyIdOf = async (n: Node) => (await n.client.status()).keyId;
  const listed = async (n: Node) =>
    (await cli<{ keys: { version: number; current: boolean; note?: string }[] }>(n, 'keys')).keys.map((k) => ({
      version: k.version,
      current: k.current,
      note: k.note,
    }));

  it('keeps every write readable on both nodes from stage to promote, with the copy arriving late', async () => {
    const v1 = await keyIdOf(a);
    expect(v1).toMatch(/^local:v1:/);
    expect(await keyIdOf(b)).toBe(v1);
    expect(await crossReads()).toEqual({ a: v1, b: v1 });

    // Phase 1 on node A: v2 decrypts there, and A keeps writing under v1.
    const { staged } = await cli<{ staged: { keyId: string; version: number } }>(a, 'rotate', '--stage');
    expect(staged.version).toBe(2);
    await new Promise((r) => setTimeout(r, 1_000)); // five refresh intervals of 200 ms
    expect(await keyIdOf(a)).toBe(v1);
    expect(await listed(a)).toEqual([
      { version: 1, current: true, note: undefined },
      { version: 2, current: false, note: 'staged' },
    ]);
    // Node B has not received the copy: what an operator compares before promoting.
    expect(await listed(b)).toEqual([{ version: 1, current: true, note: undefined }]);
    expect(await crossReads()).toEqual({ a: v1, b: v1 });

    // The copy reaches B late; B now decrypts v2 but still writes under v1.
    await copyKeyring(a, b);
    expect(await listed(b)).toEqual(await listed(a));
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await keyIdOf(b)).toBe(v1);

    // Phase 2, one node at a time: A writes under v2, which B reads although it has not promoted.
    const promotedA = await cli<{ current: { keyId: string } }>(a, 'rotate', '--promote', '2');
    expect(promotedA.current.keyId).toBe(staged.keyId);
    expect(
      await until(
        () => keyIdOf(a),
        (k) => k === staged.keyId,
      ),
    ).toBe(staged.keyId);
    expect(await keyIdOf(b)).toBe(v1);
    expect(await crossReads()).toEqual({ a: staged.keyId, b: v1 });

    await cli(b, 'rotate', '--promote', '2');
    expect(
      await until(
        () => keyIdOf(b),
        (k) => k === staged.keyId,
      ),
    ).toBe(staged.keyId);
    expect(await crossReads()).toEqual({ a: staged.keyId, b: staged.keyId });
    expect(await listed(b)).toEqual([
      { version: 1, current: false, note: 'decrypt-only' },
      { version: 2, current: true, note: undefined },
    ]);
    expect(await listed(a)).toEqual(await listed(b));
  }, 60_000);
});
