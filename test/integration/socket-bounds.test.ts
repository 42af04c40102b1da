import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2, { type ClientHttp2Session } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { create, toBinary } from '@bufbuild/protobuf';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HealthCheckRequestSchema } from '#src/adapters/inbound/grpc/gen/grpc/health/v1/health_pb.js';
import { EncryptRequestSchema, StatusRequestSchema } from '#src/adapters/inbound/grpc/gen/kms/v2/api_pb.js';
import { type KleidiProcess, startKleidi, tempDir } from '../support/kleidi-process.js';

/**
 * Load tests of the socket's bounds on the real process, over the Unix socket
 * only. Every test opens a bounded number of connections or streams (at most
 * a few hundred) and waits a bounded time; the limits are set small through
 * KLEIDI_* variables so each bound shows within seconds. Requests are framed
 * by hand on node:http2 so a test controls exactly one connection and can send
 * what no gRPC client would (no preface, half a request, no deadline).
 */

const GRPC_STATUS = { OK: 0, DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8 } as const;

/** One HTTP/2 connection to the socket, after both prefaces and SETTINGS were exchanged. */
async function h2(socket: string): Promise<ClientHttp2Session> {
  const session = http2.connect('http://localhost', { createConnection: () => connect(socket) });
  session.on('error', () => undefined); // a server-side close is what some tests wait for
  await once(session, 'remoteSettings');
  return session;
}

/** A gRPC length-prefixed message (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md). */
function frame(body: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length, 1);
  out.set(body, 5);
  return out;
}

interface Outcome {
  /** grpc-status from the trailers (or a trailers-only response); undefined if the stream ended without one. */
  readonly status: number | undefined;
  /** Messages received before the end. */
  readonly messages: number;
}

/**
 * Opens a stream for `path`. With `body` the request is complete (END_STREAM
 * after the message); without it the request stays half-sent: headers only.
 * `timeout` is the grpc-timeout header; none by default.
 */
function grpcStream(
  session: ClientHttp2Session,
  path: string,
  opts: { body?: Uint8Array; timeout?: string } = {},
): { done: Promise<Outcome>; messagesSoFar(): number } {
  const headers: http2.OutgoingHttpHeaders = {
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
  };
  if (opts.timeout) headers['grpc-timeout'] = opts.timeout;
  const req = session.request(headers, { endStream: false });
  let status: number | undefined;
  let bytes = 0;
  const take = (h: http2.IncomingHttpHeaders) => {
    if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
  };
  req.on('response', take);
  req.on('trailers', take);
  req.on('data', (d: Buffer) => (bytes += d.length));
  req.on('error', () => undefined);
  if (opts.body) req.end(frame(opts.body));
  // Each health message here is 7 bytes framed (5-byte prefix + `08 01` / `08 02`).
  const done = new Promise<Outcome>((resolve) => req.once('close', () => resolve({ status, messages: bytes / 7 })));
  return { done, messagesSoFar: () => bytes / 7 };
}

const encryptBody = () =>
  toBinary(EncryptRequestSchema, create(EncryptRequestSchema, { plaintext: new Uint8Array(32), uid: 'load' }));
const statusBody = () => toBinary(StatusRequestSchema, create(StatusRequestSchema, {}));

/** Resolves true when `s` is closed by the other end within `ms`, false otherwise. */
function closedWithin(s: Socket | ClientHttp2Session, ms: number): Promise<boolean> {
  if (s.destroyed || ('closed' in s && s.closed)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

function rssMiB(pid: number | undefined): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return line ? Math.round(Number(line[1]) / 1024) : Number.NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the KMS socket is bounded (real process, Unix socket)', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let kleidi: KleidiProcess | undefined;
  const open: (Socket | ClientHttp2Session)[] = [];
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    for (const s of open.splice(0)) s.destroy();
    await kleidi?.stop();
    kleidi = undefined;
    await tmp.cleanup();
  });

  const start = async (env: Record<string, string>) => {
    kleidi = await startKleidi(tmp.dir, [], { KLEIDI_LOG_LEVEL: 'info', ...env });
    return kleidi;
  };

  it('advertises a bounded number of concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS)', async () => {
    const k = await start({ KLEIDI_SOCKET_MAX_STREAMS: '20' });
    const s = await h2(k.socket);
    open.push(s);
    expect(s.remoteSettings.maxConcurrentStreams).toBe(20);
    // The default, on a second process.
    const other = await tempDir();
    const d = await startKleidi(other.dir, [], { KLEIDI_LOG_LEVEL: 'info' });
    try {
      const ds = await h2(d.socket);
      open.push(ds);
      expect(ds.remoteSettings.maxConcurrentStreams).toBe(64);
    } finally {
      await d.stop();
      await other.cleanup();
    }
  });

  it('closes connections that never send the HTTP/2 preface', async () => {
    const k = await start({ KLEIDI_SOCKET_HANDSHAKE_TIMEOUT: '500ms' });
    const silent = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const c = connect(k.socket);
        c.on('error', () => undefined);
        await once(c, 'connect');
        // Half of them send a partial preface and stop.
        if (i % 2 === 1) c.write('PRI * HTTP/2.0\r\n');
        open.push(c);
        return c;
      }),
    );
    const closed = await Promise.all(silent.map((c) => closedWithin(c, 5_000)));
    expect(closed.filter((x) => !x)).toHaveLength(0);
  });

  it('closes HTTP/2 connections that stay idle', async () => {
    const k = await start({ KLEIDI_SOCKET_IDLE_TIMEOUT: '1s' });
    const sessions = await Promise.all(Array.from({ length: 12 }, () => h2(k.socket)));
    open.push(...sessions);
    // Each makes one call, then goes quiet.
    const first = await Promise.all(
      sessions.map((s) => grpcStream(s, '/v2.KeyManagementService/Status', { body: statusBody(), timeout: '3S' }).done),
    );
    expect(first.every((o) => o.status === GRPC_STATUS.OK)).toBe(true);
    const closed = await Promise.all(sessions.map((s) => closedWithin(s, 6_000)));
    expect(closed.filter((x) => !x)).toHaveLength(0);
  });

  it('refuses connections beyond the cap, and serves again once one closes', async () => {
    const k = await start({ KLEIDI_SOCKET_MAX_CONNECTIONS: '10' });
    // startKleidi's readiness client is closed, but grpc-js may keep its connection in the global
    // subchannel pool until the pool's next sweep, up to 10 s later (REF_CHECK_INTERVAL,
    // @grpc/grpc-js src/subchannel-pool.ts); meanwhile it holds one of the ten places. Clean CI
    // checkouts saw 9 of the 40 accepted, steadily, until the handshake timeout closed them (this
    // machine never did). Wait the sweep out, and allow that one connection below.
    await sleep(10_500);
    const attempts = Array.from({ length: 40 }, () => {
      const c = connect(k.socket);
      c.on('error', () => undefined);
      open.push(c);
      return c;
    });
    // The server accepts up to the cap and closes the rest; on a loaded machine the clients see
    // those closes late, so wait until the count of open connections has settled at the cap.
    const accepted = () => attempts.filter((c) => !c.destroyed && !c.readableEnded);
    const counts: number[] = [];
    for (const end = Date.now() + 8_000; Date.now() < end; await sleep(250)) {
      counts.push(accepted().length);
      const last = counts.slice(-4);
      if (last.length === 4 && last.every((n) => n === last[0] && n <= 10)) break;
    }
    const settled = counts.at(-1) ?? 0;
    // Never above the cap; the cap itself, or one less while the readiness connection lingers.
    expect([9, 10], `open connections seen: ${counts.join(' ')}`).toContain(settled);
    expect(counts.slice(-4), `open connections seen: ${counts.join(' ')}`).toEqual([
      settled,
      settled,
      settled,
      settled,
    ]);
    const stillOpen = accepted();
    for (const c of stillOpen) c.destroy();
    await sleep(200);
    const s = await h2(k.socket);
    open.push(s);
    const r = await grpcStream(s, '/v2.KeyManagementService/Status', { body: statusBody(), timeout: '3S' }).done;
    expect(r.status).toBe(GRPC_STATUS.OK);
  }, 60_000);

  it('ends half-sent calls without a deadline (or with a longer one) at the server-side call deadline', async () => {
    const k = await start({ KLEIDI_MAX_CALL_DURATION: '1s' });
    const before = rssMiB(k.proc.pid);
    const sessions = await Promise.all(Array.from({ length: 4 }, () => h2(k.socket)));
    open.push(...sessions);
    const started = performance.now();
    const held = sessions.flatMap((s, i) =>
      Array.from(
        { length: 50 },
        () => grpcStream(s, '/v2.KeyManagementService/Encrypt', i === 0 ? { timeout: '1H' } : {}).done,
      ),
    );
    const outcomes = await Promise.race([Promise.all(held), sleep(5_000).then(() => 'still held' as const)]);
    const ms = performance.now() - started;
    console.log(`200 half-sent calls: RSS ${before} -> ${rssMiB(k.proc.pid)} MiB, ended after ${Math.round(ms)} ms`);
    expect(outcomes).not.toBe('still held');
    if (outcomes === 'still held') return;
    expect(outcomes.every((o) => o.status === GRPC_STATUS.DEADLINE_EXCEEDED)).toBe(true);
    // A complete call without a deadline is still answered.
    const ok = await grpcStream(sessions[1] as ClientHttp2Session, '/v2.KeyManagementService/Encrypt', {
      body: encryptBody(),
    }).done;
    expect(ok.status).toBe(GRPC_STATUS.OK);
  });

  it('caps the number of health Watch streams', async () => {
    const k = await start({ KLEIDI_MAX_HEALTH_WATCHES: '4' });
    const s = await h2(k.socket);
    open.push(s);
    const body = toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: '' }));
    const watches = Array.from({ length: 12 }, () => grpcStream(s, '/grpc.health.v1.Health/Watch', { body }));
    await sleep(1_500);
    const ended = await Promise.all(watches.map((w) => Promise.race([w.done, sleep(0).then(() => undefined)])));
    const refused = ended.filter((o) => o?.status === GRPC_STATUS.RESOURCE_EXHAUSTED);
    const serving = watches.filter((w, i) => ended[i] === undefined && w.messagesSoFar() === 1);
    expect({ refused: refused.length, serving: serving.length }).toEqual({ refused: 8, serving: 4 });
  });

  it("serves kube-apiserver's pattern unchanged: one long-lived connection, many unary calls", async () => {
    // Tight limits, so the pattern is shown to stay clear of each of them.
    const k = await start({
      KLEIDI_SOCKET_MAX_STREAMS: '20',
      KLEIDI_SOCKET_MAX_CONNECTIONS: '4',
      KLEIDI_SOCKET_IDLE_TIMEOUT: '2s',
      KLEIDI_SOCKET_HANDSHAKE_TIMEOUT: '500ms',
      KLEIDI_MAX_CALL_DURATION: '2s',
      KLEIDI_MAX_HEALTH_WATCHES: '1',
    });
    const s = await h2(k.socket);
    open.push(s);
    let goaway = false;
    s.once('goaway', () => (goaway = true));
    const statuses: (number | undefined)[] = [];
    for (let burst = 0; burst < 6; burst++) {
      // As the apiserver does: a Status poll, then bursts of Encrypts with its 3 s deadline,
      // more at once than the stream limit (the client queues the rest), then a pause.
      statuses.push(
        (await grpcStream(s, '/v2.KeyManagementService/Status', { body: statusBody(), timeout: '3S' }).done).status,
      );
      const calls = Array.from(
        { length: 100 },
        () => grpcStream(s, '/v2.KeyManagementService/Encrypt', { body: encryptBody(), timeout: '3S' }).done,
      );
      for (const o of await Promise.all(calls)) statuses.push(o.status);
      await sleep(700);
    }
    expect(statuses).toHaveLength(606);
    expect(statuses.filter((c) => c !== GRPC_STATUS.OK)).toEqual([]);
    expect(goaway).toBe(false);
    expect(s.closed || s.destroyed).toBe(false);
  });
});
