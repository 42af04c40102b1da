import * as grpc from '@grpc/grpc-js';
import { create, toBinary } from '@bufbuild/protobuf';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StatusResponseSchema } from '#src/adapters/inbound/grpc/gen/kms/v2/api_pb.js';
import { HealthWatch, isOutage } from '../../reliability/support/health.js';

/** A KMSv2 Status endpoint that answers healthz "ok" after `delayMs`, like a plugin on a starved machine. */
async function slowStatusServer(socket: string, delayMs: number): Promise<grpc.Server> {
  const server = new grpc.Server();
  const status: grpc.MethodDefinition<Buffer, Buffer> = {
    path: '/v2.KeyManagementService/Status',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b) => b,
    requestDeserialize: (b) => b,
    responseSerialize: (b) => b,
    responseDeserialize: (b) => b,
  };
  const answer = Buffer.from(
    toBinary(StatusResponseSchema, create(StatusResponseSchema, { version: 'v2', healthz: 'ok', keyId: 'k1' })),
  );
  server.addService({ Status: status } as grpc.ServiceDefinition, {
    Status: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      setTimeout(() => cb(null, answer), delayMs);
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  return server;
}

describe('reliability campaign: the health watch judges Status as kube-apiserver does', () => {
  let dir: string;
  let server: grpc.Server | undefined;
  let watch: HealthWatch | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-watch-'));
  });
  afterEach(async () => {
    await watch?.stop();
    server?.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('counts a Status answered "ok" after 1.5 s as ok (the apiserver gives Status its 3 s call timeout)', async () => {
    const socket = join(dir, 'kms.sock');
    server = await slowStatusServer(socket, 1_500);
    const t0 = Date.now();
    watch = new HealthWatch(socket);
    const first = await watch.waitFor(() => true, t0, 8_000);
    expect(first, 'a Status sample within 8 s').toBeDefined();
    expect(isOutage(first!), JSON.stringify(first)).toBe(false);
    expect(first!.ms).toBeGreaterThanOrEqual(1_400);
  }, 15_000);
});
