import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { create, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { HealthCheckRequestSchema } from '#src/adapters/inbound/grpc/gen/grpc/health/v1/health_pb.js';
import { KeyManagementService } from '#src/adapters/inbound/grpc/gen/kms/v2/api_pb.js';
import { serviceDefinition, unaryCall } from '#src/adapters/inbound/grpc/grpc-js.service.js';
import { healthService } from '#src/adapters/inbound/grpc/health.service.js';

type Answer = { code: number | undefined; details: string | undefined };

/**
 * Hands `body` to a method the way grpc-js does: its requestDeserialize
 * first, and a throw there is answered INTERNAL "Error deserializing
 * request" by grpc-js itself (@grpc/grpc-js src/server-interceptors.ts,
 * BaseServerInterceptingCall), so the handler never sees the call.
 */
function deliver(def: grpc.MethodDefinition<unknown, unknown>, body: Uint8Array): { request: unknown } | Answer {
  try {
    return { request: def.requestDeserialize(Buffer.from(body)) };
  } catch {
    return { code: grpc.status.INTERNAL, details: 'Error deserializing request' };
  }
}

function unary(def: grpc.MethodDefinition<unknown, unknown>, handler: unknown, body: Uint8Array): Promise<Answer> {
  const got = deliver(def, body);
  if (!('request' in got)) return Promise.resolve(got);
  return new Promise((resolve) => {
    const call = Object.assign(new EventEmitter(), { request: got.request, getDeadline: () => Infinity });
    (handler as grpc.handleUnaryCall<unknown, unknown>)(
      call as unknown as grpc.ServerUnaryCall<unknown, unknown>,
      (err: Partial<grpc.StatusObject> | null) =>
        resolve({ code: err?.code ?? grpc.status.OK, details: err?.details ?? undefined }),
    );
  });
}

/** A server-streaming call: grpc-js turns an 'error' emitted on the call into its final status. */
function streaming(def: grpc.MethodDefinition<unknown, unknown>, handler: unknown, body: Uint8Array): Promise<Answer> {
  const got = deliver(def, body);
  if (!('request' in got)) return Promise.resolve(got);
  return new Promise((resolve) => {
    const call = Object.assign(new EventEmitter(), {
      request: got.request,
      write: () => resolve({ code: grpc.status.OK, details: 'a message was streamed' }),
      end: () => resolve({ code: grpc.status.OK, details: 'ended without error' }),
    });
    call.once('error', (e: Partial<grpc.StatusObject>) => resolve({ code: e.code, details: e.details }));
    (handler as grpc.handleServerStreamingCall<unknown, unknown>)(
      call as unknown as grpc.ServerWritableStream<unknown, unknown>,
    );
    call.emit('cancelled');
  });
}

const kmsDef = serviceDefinition(KeyManagementService);
const statusMethod = KeyManagementService.method.status;
const kmsStatus = unaryCall(KeyManagementService, statusMethod, () => Promise.resolve({}));
const health = healthService(
  {
    readiness: () => ({ ok: true, reason: 'ok' }),
    liveness: () => ({ ok: true, reason: 'ok' }),
  },
  { maxWatches: 8 },
);
const healthDef = health.definition as Record<string, grpc.MethodDefinition<unknown, unknown>>;

// A length-delimited field 1 whose length (255) runs past the end, and three bytes that are no valid tag.
const MALFORMED = [new Uint8Array([0x0a, 0xff, 0x01]), new Uint8Array([0xff, 0xff, 0xff])];

describe('a request body that is not valid protobuf gets one answer on every service of the socket', () => {
  it.each(MALFORMED)('KMS Status answers INVALID_ARGUMENT for %o', async (body) => {
    const got = await unary(kmsDef.status as never, kmsStatus, body);
    expect(got.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it.each(MALFORMED)('grpc.health.v1 Check answers as the KMS service does for %o', async (body) => {
    const kms = await unary(kmsDef.status as never, kmsStatus, body);
    const got = await unary(healthDef.check as never, health.implementation.check, body);
    expect(got).toEqual(kms);
    expect(got.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it.each(MALFORMED)('grpc.health.v1 Watch answers as the KMS service does for %o', async (body) => {
    const kms = await unary(kmsDef.status as never, kmsStatus, body);
    const got = await streaming(healthDef.watch as never, health.implementation.watch, body);
    expect(got).toEqual(kms);
  });

  it('a well-formed health request is still served', async () => {
    const body = toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: '' }));
    expect((await unary(healthDef.check as never, health.implementation.check, body)).code).toBe(grpc.status.OK);
    expect((await streaming(healthDef.watch as never, health.implementation.watch, body)).code).toBe(grpc.status.OK);
  });
});
