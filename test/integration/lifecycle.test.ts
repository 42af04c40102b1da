import { existsSync, statSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { aDataKey } from '../support/builders.js';
import { KmsTestClient } from '../support/grpc-client.js';
import { runKleidi, startKleidi, tempDir } from '../support/kleidi-process.js';

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('process lifecycle: restart, rotation, stale sockets, signals', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it('keeps keys across a SIGTERM restart: same key_id, old ciphertext decrypts, socket removed on exit', async () => {
    const seed = aDataKey();
    const a = await startKleidi(tmp.dir);
    const c1 = new KmsTestClient(a.socket);
    const enc = await c1.encrypt(seed);
    c1.close();
    expect(await a.stop('SIGTERM')).toBe(0);
    expect(existsSync(a.socket)).toBe(false);
    const b = await startKleidi(tmp.dir);
    const c2 = new KmsTestClient(b.socket);
    expect((await c2.status()).keyId).toBe(enc.keyId);
    expect(Buffer.from((await c2.decrypt(enc)).plaintext)).toEqual(Buffer.from(seed));
    c2.close();
    await b.stop();
  });

  it('picks up `kleidi rotate` within the refresh interval and still decrypts older data', async () => {
    const k = await startKleidi(tmp.dir);
    const c = new KmsTestClient(k.socket);
    const seed = aDataKey();
    const before = await c.encrypt(seed);
    const rot = runKleidi(['rotate', '--state-dir', k.stateDir]);
    expect(await rot.exited).toBe(0);
    const s = await until(
      () => c.status(),
      (x) => x.keyId !== before.keyId,
      5_000,
    );
    expect(s.keyId).toMatch(/^local:v2:/);
    const after = await c.encrypt(seed);
    expect(after.keyId).toBe(s.keyId);
    expect(Buffer.from((await c.decrypt(before)).plaintext)).toEqual(Buffer.from(seed));
    expect(Buffer.from((await c.decrypt(after)).plaintext)).toEqual(Buffer.from(seed));
    c.close();
    await k.stop();
  });

  it('removes a stale socket left by SIGKILL and serves again', async () => {
    const a = await startKleidi(tmp.dir);
    expect(await a.stop('SIGKILL')).toBeNull();
    expect(statSync(a.socket).isSocket()).toBe(true); // left behind
    const b = await startKleidi(tmp.dir);
    const c = new KmsTestClient(b.socket);
    expect((await c.status()).healthz).toBe('ok');
    c.close();
    await b.stop();
  });

  it('refuses to start on a socket a live process owns, and the owner keeps serving', async () => {
    const a = await startKleidi(tmp.dir);
    const second = runKleidi(['serve', '--socket', a.socket, '--state-dir', a.stateDir]);
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(/in use by a running process/);
    const c = new KmsTestClient(a.socket);
    expect((await c.status()).healthz).toBe('ok');
    c.close();
    await a.stop();
  });

  it('exits 0 promptly on SIGTERM while the apiserver keeps its HTTP/2 connection open', async () => {
    const k = await startKleidi(tmp.dir, ['--shutdown-grace', '20s']);
    const c = new KmsTestClient(k.socket);
    await c.status(); // the connection stays open, idle, as kube-apiserver's does
    const started = Date.now();
    expect(await k.stop('SIGTERM')).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    c.close();
  });

  it('`kleidi status` exits 0 when healthy and 1 when nothing listens', async () => {
    const k = await startKleidi(tmp.dir);
    const ok = runKleidi(['status', '--socket', k.socket]);
    expect(await ok.exited).toBe(0);
    expect(JSON.parse(ok.output())).toMatchObject({ version: 'v2', healthz: 'ok' });
    await k.stop();
    const down = runKleidi(['status', '--socket', k.socket, '--timeout', '1s']);
    expect(await down.exited).toBe(1);
  });

  it('round-trips through the diagnostic `kleidi encrypt | kleidi decrypt` commands', async () => {
    const k = await startKleidi(tmp.dir);
    const seed = aDataKey();
    const e = runKleidi(['encrypt', '--socket', k.socket], {}, seed);
    expect(await e.exited).toBe(0);
    const d = runKleidi(['decrypt', '--socket', k.socket], {}, Buffer.from(e.output()));
    const chunks: Buffer[] = [];
    d.proc.stdout.on('data', (b: Buffer) => chunks.push(b));
    expect(await d.exited).toBe(0);
    expect(Buffer.concat(chunks)).toEqual(Buffer.from(seed));
    await k.stop();
  });
});
