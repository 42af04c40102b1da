import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus,
} from '#src/adapters/inbound/grpc/gen/grpc/health/v1/health_pb.js';

export const ServingStatus = HealthCheckResponse_ServingStatus;

/** The HTTP address kleidi logged ("serving health and metrics over HTTP"), waiting for it to appear. */
export async function loggedHttpUrl(output: () => string, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const line = output()
      .split('\n')
      .find((l) => l.includes('serving health and metrics over HTTP'));
    const url = line ? (JSON.parse(line) as { url?: string }).url : undefined;
    if (url) return url;
    if (Date.now() > end) throw new Error(`no HTTP address logged:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** GET `path`; never throws for an HTTP error status. */
export async function get(base: string, path: string): Promise<{ status: number; body: string; type: string }> {
  const res = await fetch(new URL(path, base), { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' };
}

/**
 * The value of one sample in Prometheus text format, matched by name and a
 * subset of labels; undefined when no such sample exists.
 */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** grpc.health.v1.Health/Check over the plugin socket, as grpc_health_probe calls it. */
export function healthCheck(
  socketPath: string,
  service = '',
  deadlineMs = 3_000,
): Promise<HealthCheckResponse_ServingStatus> {
  const body = toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }));
  return healthCheckBytes(socketPath, body, deadlineMs).then((b) => fromBinary(HealthCheckResponseSchema, b).status);
}

/** Sends `body` as-is to grpc.health.v1.Health/Check; rejects with the gRPC error. */
export function healthCheckBytes(socketPath: string, body: Uint8Array, deadlineMs = 3_000): Promise<Buffer> {
  const client = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => b,
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, res) => (err ? reject(err) : resolve(res ?? Buffer.alloc(0))),
    );
  }).finally(() => client.close());
}

/** The first message of grpc.health.v1.Health/Watch. */
export function healthWatchFirst(socketPath: string, service = ''): Promise<HealthCheckResponse_ServingStatus> {
  const body = toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }));
  return healthWatchBytes(socketPath, body).then((b) => fromBinary(HealthCheckResponseSchema, b).status);
}

/** Sends `body` as-is to grpc.health.v1.Health/Watch; the first message, or the gRPC error. */
export function healthWatchBytes(socketPath: string, body: Uint8Array): Promise<Buffer> {
  const client = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure());
  const call = client.makeServerStreamRequest(
    '/grpc.health.v1.Health/Watch',
    (b: Uint8Array) => Buffer.from(b),
    (b: Buffer) => b,
    body,
    new grpc.Metadata(),
    { deadline: Date.now() + 5_000 },
  );
  return new Promise<Buffer>((resolve, reject) => {
    call.once('data', resolve);
    call.once('error', reject);
  }).finally(() => {
    call.cancel();
    client.close();
  });
}

/** Polls `fn` until `ok` holds or `ms` passes; returns the last value. */
export async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}
