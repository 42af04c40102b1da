import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseEndpoint } from '#src/adapters/inbound/grpc/endpoint.js';
import { GrpcJsKmsServer } from '#src/adapters/inbound/grpc/grpc-js.server.js';
import { kmsV2Handlers } from '#src/adapters/inbound/grpc/kms-v2.handlers.js';
import { DeadlineExceededError } from '#src/domain/model/errors.js';
import type { KeyId } from '#src/domain/model/key-id.js';
import type { KeyManagement } from '#src/ports/inbound/key-management.port.js';
import { kmsClient } from '#src/adapters/inbound/cli/kms-client.js';
import { recordingLogger } from '../support/builders.js';
import { codeOf, KmsTestClient, Status } from '../support/grpc-client.js';
import { tempDir } from '../support/kleidi-process.js';

const keyId = 'test:v1' as KeyId;

/** A KeyManagement whose Encrypt waits `delayMs` (or forever) and records the signal it got. */
function slowKm(delayMs: number | 'forever') {
  const signals: AbortSignal[] = [];
  const km = {
    status: async () => ({ version: 'v2' as const, healthz: 'ok', keyId }),
    encrypt: (cmd, signal) => {
      signals.push(signal);
      return new Promise((resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        if (delayMs !== 'forever') {
          setTimeout(() => resolve({ ciphertext: cmd.plaintext, keyId, annotations: {} }), delayMs);
        }
      });
    },
    decrypt: async (cmd) => cmd.ciphertext,
  } satisfies KeyManagement;
  return { km, signals };
}

describe('grpc-js host: deadlines, drain on shutdown, authority, abstract sockets', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  async function serve(km: KeyManagement, socket = join(tmp.dir, 'kms.sock')) {
    const log = recordingLogger();
    const server = new GrpcJsKmsServer(kmsV2Handlers(km, log), log, {
      endpoint: parseEndpoint(socket),
      socket: { mode: 0o600 },
      maxMessageBytes: 64 * 1024,
      limits: {
        maxConnections: 32,
        maxConcurrentStreams: 100,
        handshakeTimeoutMs: 10_000,
        idleTimeoutMs: 300_000,
        maxCallMs: 30_000,
      },
    });
    await server.start();
    return { server, socket };
  }

  it('answers DEADLINE_EXCEEDED at the caller deadline and aborts the backend work', async () => {
    const { km, signals } = slowKm('forever');
    const { server, socket } = await serve(km);
    const c = new KmsTestClient(socket);
    const started = Date.now();
    expect(await codeOf(c.encrypt(new Uint8Array(32), 300))).toBe(Status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(2_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[0]?.reason).toBeInstanceOf(DeadlineExceededError);
    c.close();
    await server.shutdown(100);
  });

  it('drains in-flight calls on shutdown, refuses new ones, and removes the socket', async () => {
    const { km } = slowKm(400);
    const { server, socket } = await serve(km);
    const c = new KmsTestClient(socket);
    await c.status();
    const inFlight = Array.from({ length: 5 }, () => c.encrypt(new Uint8Array(32).fill(7), 5_000));
    await new Promise((r) => setTimeout(r, 50));
    const stopping = server.shutdown(5_000);
    const results = await Promise.all(inFlight);
    expect(results.every((r) => r.ciphertext.length === 32)).toBe(true);
    await stopping;
    expect(existsSync(socket)).toBe(false);
    const late = new KmsTestClient(socket);
    expect(await codeOf(late.status(500))).not.toBe('OK');
    late.close();
    c.close();
  });

  it('cancels calls still running when the grace period ends', async () => {
    const { km } = slowKm('forever');
    const { server, socket } = await serve(km);
    const c = new KmsTestClient(socket);
    const call = codeOf(c.encrypt(new Uint8Array(32), 10_000));
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await server.shutdown(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await call).not.toBe('OK');
    c.close();
  });

  // Apiservers up to 1.31 send the socket path as :authority (kubernetes#126929). Their grpc-go
  // (>= 1.58, so every apiserver >= 1.29) percent-encodes it (grpc-go#6428, encodeAuthority), which
  // is what this sends. A literal '/' in :authority is refused by Node's HTTP/2 layer (nghttp2)
  // before kleidi sees the request; docs/adr/0003-grpc-js-host.md records this.
  it('accepts the percent-encoded socket path as :authority, as apiservers 1.29-1.31 send it', async () => {
    const { km } = slowKm(0);
    const { server, socket } = await serve(km);
    const c = new KmsTestClient(socket, { 'grpc.default_authority': encodeURIComponent(socket) });
    expect((await c.status()).keyId).toBe(keyId);
    c.close();
    await server.shutdown(100);
  });

  it('serves a Linux abstract socket (unix:///@name)', async () => {
    const { km } = slowKm(0);
    const name = `kleidi-test-${process.pid}-${Date.now()}`;
    const { server } = await serve(km, `unix:///@${name}`);
    const { client } = kmsClient(`unix:///@${name}`);
    expect((await client.status({}, { timeoutMs: 2_000 })).keyId).toBe(keyId);
    await server.shutdown(100);
  });
});
