import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope } from '#src/domain/model/envelope.js';
import { parseKeyId } from '#src/domain/model/key-id.js';
import { aDataKey } from '../support/builders.js';
import { codeOf, KmsTestClient, Status } from '../support/grpc-client.js';
import { startKleidi, tempDir, type KleidiProcess } from '../support/kleidi-process.js';
import { healthCheckBytes, healthWatchBytes } from '../support/operations.js';

const enc = new TextEncoder();

describe('bad input gets a clear gRPC error and the server stays healthy', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let k: KleidiProcess;
  let c: KmsTestClient;
  let good: { ciphertext: Uint8Array; keyId: string; annotations: Record<string, Uint8Array> };
  const seed = aDataKey();

  beforeAll(async () => {
    tmp = await tempDir();
    k = await startKleidi(tmp.dir);
    c = new KmsTestClient(k.socket);
    const r = await c.encrypt(seed);
    good = { ciphertext: r.ciphertext, keyId: r.keyId, annotations: r.annotations };
  });
  afterAll(async () => {
    c?.close();
    await k?.stop();
    await tmp?.cleanup();
  });

  const withCiphertext = (ciphertext: Uint8Array) => ({ ...good, ciphertext });
  const reKeyed = (keyId: string) => encodeEnvelope({ ...decodeEnvelope(good.ciphertext), keyId: parseKeyId(keyId) });
  const flipped = (i: number) => {
    const b = new Uint8Array(good.ciphertext);
    b[i < 0 ? b.length + i : i]! ^= 0x01;
    return b;
  };

  it.each([
    [
      'malformed protobuf to Encrypt',
      () => c.call('Encrypt', new Uint8Array([0x0a, 0xff, 0x01])),
      Status.INVALID_ARGUMENT,
    ],
    [
      'malformed protobuf to Decrypt',
      () => c.call('Decrypt', new Uint8Array([0xff, 0xff, 0xff])),
      Status.INVALID_ARGUMENT,
    ],
    // The health service on the same socket answers a malformed body as the KMS service does.
    [
      'malformed protobuf to grpc.health.v1 Check',
      () => healthCheckBytes(k.socket, new Uint8Array([0x0a, 0xff, 0x01])),
      Status.INVALID_ARGUMENT,
    ],
    [
      'malformed protobuf to grpc.health.v1 Watch',
      () => healthWatchBytes(k.socket, new Uint8Array([0xff, 0xff, 0xff])),
      Status.INVALID_ARGUMENT,
    ],
    ['empty plaintext', () => c.encrypt(new Uint8Array(0)), Status.INVALID_ARGUMENT],
    ['plaintext over 1024 bytes', () => c.encrypt(aDataKey(1025)), Status.INVALID_ARGUMENT],
    ['plaintext whose envelope would exceed 1024 bytes', () => c.encrypt(aDataKey(1000)), Status.INVALID_ARGUMENT],
    ['empty key_id', () => c.decrypt({ ...good, keyId: '' }), Status.INVALID_ARGUMENT],
    ['key_id over 1024 bytes', () => c.decrypt({ ...good, keyId: 'x'.repeat(1025) }), Status.INVALID_ARGUMENT],
    [
      'a key_id the plugin never issued',
      () =>
        c.decrypt({ ...good, keyId: 'local:v9:0000000000000000', ciphertext: reKeyed('local:v9:0000000000000000') }),
      Status.NOT_FOUND,
    ],
    [
      'key_id not matching the envelope',
      () => c.decrypt({ ...good, keyId: 'local:v9:0000000000000000' }),
      Status.INVALID_ARGUMENT,
    ],
    ['empty ciphertext', () => c.decrypt(withCiphertext(new Uint8Array(0))), Status.INVALID_ARGUMENT],
    ['ciphertext over 1024 bytes', () => c.decrypt(withCiphertext(aDataKey(1025))), Status.INVALID_ARGUMENT],
    ['random bytes as ciphertext', () => c.decrypt(withCiphertext(aDataKey(64))), Status.INVALID_ARGUMENT],
    ['tampered tag', () => c.decrypt(withCiphertext(flipped(-1))), Status.INVALID_ARGUMENT],
    ['tampered nonce', () => c.decrypt(withCiphertext(flipped(-50))), Status.INVALID_ARGUMENT],
    ['tampered header', () => c.decrypt(withCiphertext(flipped(1))), Status.INVALID_ARGUMENT],
    [
      'truncated by one byte',
      () => c.decrypt(withCiphertext(good.ciphertext.subarray(0, -1))),
      Status.INVALID_ARGUMENT,
    ],
    [
      'truncated to 10 bytes',
      () => c.decrypt(withCiphertext(good.ciphertext.subarray(0, 10))),
      Status.INVALID_ARGUMENT,
    ],
    ['missing annotations', () => c.decrypt({ ...good, annotations: {} }), Status.INVALID_ARGUMENT],
    [
      'changed annotation value',
      () => c.decrypt({ ...good, annotations: { 'version.kleidi.io': enc.encode('2') } }),
      Status.INVALID_ARGUMENT,
    ],
    [
      'an extra annotation',
      () => c.decrypt({ ...good, annotations: { ...good.annotations, 'extra.example.io': enc.encode('x') } }),
      Status.INVALID_ARGUMENT,
    ],
  ] as const)('%s → code %s', async (_name, call, code) => {
    expect(await codeOf(call())).toBe(code);
  });

  it('still serves correctly and reports healthy afterwards', async () => {
    expect((await c.status()).healthz).toBe('ok');
    const back = await c.decrypt(good);
    expect(Buffer.from(back.plaintext)).toEqual(Buffer.from(seed));
    expect(k.proc.exitCode).toBeNull();
  });
});
