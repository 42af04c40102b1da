import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateAnnotations } from '#src/domain/model/annotations.js';
import { aDataKey } from '../support/builders.js';
import { KmsTestClient } from '../support/grpc-client.js';
import { startKleidi, tempDir, type KleidiProcess } from '../support/kleidi-process.js';

describe('kleidi serve over a Unix socket (local backend, real process)', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let k: KleidiProcess;
  let client: KmsTestClient;

  beforeAll(async () => {
    tmp = await tempDir();
    k = await startKleidi(tmp.dir);
    client = new KmsTestClient(k.socket);
  });
  afterAll(async () => {
    client?.close();
    await k?.stop();
    await tmp?.cleanup();
  });

  it('reports version v2, healthz ok and a local key_id', async () => {
    const s = await client.status();
    expect(s.version).toBe('v2');
    expect(s.healthz).toBe('ok');
    expect(s.keyId).toMatch(/^local:v1:[0-9a-f]{16}$/);
  });

  it('encrypts with exactly the Status key_id, within the apiserver limits, and decrypts back', async () => {
    const seed = aDataKey();
    const { keyId } = await client.status();
    const enc = await client.encrypt(seed);
    expect(enc.keyId).toBe(keyId);
    expect(enc.ciphertext.length).toBeGreaterThan(0);
    expect(enc.ciphertext.length).toBeLessThanOrEqual(1024);
    expect(() => validateAnnotations(enc.annotations)).not.toThrow();
    const dec = await client.decrypt({ ciphertext: enc.ciphertext, keyId: enc.keyId, annotations: enc.annotations });
    expect(Buffer.from(dec.plaintext)).toEqual(Buffer.from(seed));
  });

  it('gives different ciphertexts for the same plaintext', async () => {
    const seed = aDataKey();
    const [a, b] = await Promise.all([client.encrypt(seed), client.encrypt(seed)]);
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(b.ciphertext))).toBe(false);
  });

  it('creates the socket with mode 0600 and the keyring with mode 0600', () => {
    expect(statSync(k.socket).mode & 0o777).toBe(0o600);
    expect(statSync(`${k.stateDir}/keyring.json`).mode & 0o777).toBe(0o600);
  });

  it('answers a sequential round trip well under 2 ms (sanity figure, not a benchmark)', async () => {
    const seed = aDataKey();
    for (let i = 0; i < 50; i++) await client.encrypt(seed); // warm-up
    const n = 500;
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const enc = await client.encrypt(seed);
      await client.decrypt({ ciphertext: enc.ciphertext, keyId: enc.keyId, annotations: enc.annotations });
    }
    const perCall = (performance.now() - started) / (2 * n);
    console.log(`[figure] sequential Encrypt/Decrypt over the socket: ${perCall.toFixed(3)} ms per call`);
    expect(perCall).toBeGreaterThan(0);
  });
});
