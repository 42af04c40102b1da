import * as grpc from '@grpc/grpc-js';
import type { Server as NetServer, Socket } from 'node:net';
import { lstatSync } from 'node:fs';
import type { ServiceImpl } from '@connectrpc/connect';
import type { ProbeResult } from '../../../ports/inbound/operations.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { KeyManagementService } from './gen/kms/v2/api_pb.js';
import { endpointUrl, type Endpoint } from './endpoint.js';
import { callDeadlineInterceptor, serviceDefinition, unaryCall } from './grpc-js.service.js';
import { listenOnSocket, removeSocketFile, socketInode, type SocketOptions } from './socket-listener.js';

export interface GrpcServerOptions {
  readonly endpoint: Endpoint;
  /** The socket file's mode and group; undefined for an abstract socket, which has no file. */
  readonly socket: SocketOptions | undefined;
  /** Bounds what one request may make us allocate; KMSv2 messages stay under 40 KiB. */
  readonly maxMessageBytes: number;
  readonly limits: SocketLimits;
}

/** What one caller of the socket may hold; each bound protects the process's memory. */
interface SocketLimits {
  /** Open connections at once; one more is closed as soon as it is accepted. */
  readonly maxConnections: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS: calls at once on one connection; clients queue the rest. */
  readonly maxConcurrentStreams: number;
  /** How long a new connection may take to send the HTTP/2 connection preface. */
  readonly handshakeTimeoutMs: number;
  /** A connection with no call open for this long is closed (GOAWAY); clients reconnect on demand. */
  readonly idleTimeoutMs: number;
  /** The deadline of a unary call that carries none, and the longest any unary call may run. */
  readonly maxCallMs: number;
}

/** The client connection preface every HTTP/2 connection opens with (RFC 9113 §3.4). */
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** At most one "connection refused" warning per this interval, so a flood cannot flood the log. */
const DROP_WARN_INTERVAL_MS = 10_000;

/** An extra service on the same socket, e.g. grpc.health.v1. */
export interface ExtraService {
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
}

/**
 * The production host: grpc-js on a Unix socket we open ourselves (so we own
 * stale-socket handling, the mode and abstract names) with connections
 * injected into grpc-js. It never checks `:authority`: apiservers up to 1.31
 * send the socket path, later ones `localhost` (kubernetes#126929).
 */
export class GrpcJsKmsServer {
  private readonly grpcServer: grpc.Server;
  private net: NetServer | undefined;
  private readonly sockets = new Set<Socket>();
  private injector: grpc.ConnectionInjector | undefined;
  private onIdle: (() => void) | undefined;
  private inode: number | undefined;
  /** Connections accepted but not yet handed to grpc-js: they have not sent the preface yet. */
  private readonly handshaking = new Set<Socket>();
  private lastDropWarning = Number.NEGATIVE_INFINITY;
  private dropped = 0;

  constructor(
    handlers: ServiceImpl<typeof KeyManagementService>,
    private readonly log: Logger,
    private readonly opts: GrpcServerOptions,
    extra: readonly ExtraService[] = [],
  ) {
    // grpc-js server options (@grpc/grpc-js src/server.ts, Server constructor): max_concurrent_streams
    // becomes the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (unlimited, 2^32-1, when unset);
    // max_connection_idle_ms sends GOAWAY to a session with no stream open for that long.
    this.grpcServer = new grpc.Server({
      'grpc.max_receive_message_length': opts.maxMessageBytes,
      'grpc.max_send_message_length': opts.maxMessageBytes,
      'grpc.max_concurrent_streams': opts.limits.maxConcurrentStreams,
      'grpc.max_connection_idle_ms': opts.limits.idleTimeoutMs,
      interceptors: [callDeadlineInterceptor(opts.limits.maxCallMs)],
    });
    const svc = KeyManagementService;
    const impl: grpc.UntypedServiceImplementation = {};
    for (const m of svc.methods) {
      const fn = handlers[m.localName as keyof typeof handlers];
      impl[m.localName] = unaryCall(svc, m, fn as never, opts.limits.maxCallMs);
    }
    this.grpcServer.addService(serviceDefinition(svc), impl);
    for (const e of extra) this.grpcServer.addService(e.definition, e.implementation);
  }

  async start(): Promise<void> {
    const injector = this.grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.injector = injector;
    const { limits } = this.opts;
    this.net = await listenOnSocket(this.opts.endpoint, this.opts.socket, (s) => {
      this.sockets.add(s);
      s.once('close', () => {
        this.sockets.delete(s);
        if (this.sockets.size === 0) this.onIdle?.();
      });
      this.handshaking.add(s);
      afterPreface(s, limits.handshakeTimeoutMs, () => {
        this.handshaking.delete(s);
        injector.injectConnection(s);
      });
    });
    // Node closes a connection accepted beyond maxConnections at once and emits 'drop'
    // (https://nodejs.org/api/net.html#servermaxconnections).
    this.net.maxConnections = limits.maxConnections;
    this.net.on('drop', () => this.warnDropped());
    this.inode = socketInode(this.opts.endpoint);
    const e = this.opts.endpoint;
    if (e.kind === 'path') {
      this.log.info({ endpoint: endpointUrl(e), mode: this.opts.socket?.mode.toString(8) }, 'serving KMSv2');
    } else {
      // An abstract socket has no file, so no mode, owner or group limits who may connect.
      this.log.warn(
        { endpoint: endpointUrl(e) },
        'serving KMSv2 on an abstract socket (allowAbstractSocketInsecure): any process in this network namespace can call Encrypt and Decrypt',
      );
      this.log.info({ endpoint: endpointUrl(e) }, 'serving KMSv2');
    }
  }

  private warnDropped(): void {
    this.dropped++;
    const now = performance.now();
    if (now - this.lastDropWarning < DROP_WARN_INTERVAL_MS) return;
    this.lastDropWarning = now;
    this.log.warn(
      { maxConnections: this.opts.limits.maxConnections, refused: this.dropped },
      'refusing connections to the KMS socket: too many open (socketMaxConnections)',
    );
    this.dropped = 0;
  }

  /**
   * Whether the KMS socket is still served: we listen, and a filesystem
   * socket is still the file we bound (not deleted or replaced, e.g. by a
   * hostPath cleanup). Backs /livez: a restart recreates a lost socket.
   */
  socketServed(): ProbeResult {
    if (!this.net?.listening) return { ok: false, reason: 'the KMS socket is not being served' };
    const e = this.opts.endpoint;
    if (e.kind === 'path') {
      let ino: number | undefined;
      try {
        ino = lstatSync(e.path).ino;
      } catch {
        ino = undefined;
      }
      if (ino !== this.inode)
        return { ok: false, reason: `socket file ${e.path} was removed or replaced; restart kleidi to recreate it` };
    }
    return { ok: true, reason: 'ok' };
  }

  /**
   * Stops accepting, sends GOAWAY on the long-lived HTTP/2 sessions the
   * apiserver keeps open, lets in-flight calls finish within `graceMs`,
   * cancels what is left, then removes the socket.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.net?.close();
    this.net = undefined;
    for (const s of this.handshaking) s.destroy(); // no call can be in flight on them
    const drained = new Promise<boolean>((resolve) => {
      if (this.sockets.size === 0) resolve(true);
      this.onIdle = () => resolve(true);
      setTimeout(() => resolve(false), graceMs).unref();
    });
    this.injector?.drain(graceMs); // graceful close of each session; grpc-js cancels leftovers at graceMs
    if (!(await drained)) {
      this.log.warn(
        { graceMs, connections: this.sockets.size },
        'grace period over; cancelling the calls still in flight',
      );
      this.injector?.destroy();
      for (const s of this.sockets) s.destroy();
    }
    this.grpcServer.forceShutdown();
    removeSocketFile(this.opts.endpoint, this.inode);
  }
}

/**
 * Calls `ready` once `s` has sent the whole HTTP/2 connection preface, with
 * those bytes put back for the HTTP/2 session to read; closes `s` if it sends
 * anything else or nothing within `timeoutMs`. Node's HTTP/2 server has no
 * such timeout of its own and grpc-js sets none (its server timeout is 0), so
 * without this a connection that never speaks is held forever.
 */
function afterPreface(s: Socket, timeoutMs: number, ready: () => void): void {
  let got: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => s.destroy(), timeoutMs);
  // A reset before the preface must not become an unhandled 'error' (the HTTP/2 session adds its own handler).
  const onError = () => s.destroy();
  const stop = () => {
    clearTimeout(timer);
    s.off('data', onData);
    s.off('close', stop);
    s.off('error', onError);
  };
  const onData = (chunk: Buffer) => {
    got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
    const n = Math.min(got.length, HTTP2_PREFACE.length);
    if (!got.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n))) {
      stop();
      s.destroy();
      return;
    }
    if (got.length < HTTP2_PREFACE.length) return;
    stop();
    s.pause();
    s.unshift(got); // Node's HTTP/2 session reads what is already buffered on the socket first
    ready();
  };
  s.on('data', onData);
  s.on('error', onError);
  s.once('close', stop);
}
