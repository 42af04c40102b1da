import * as grpc from '@grpc/grpc-js';
import type { Server as NetServer, Socket } from 'node:net';
import { lstatSync } from 'node:fs';
import type { ServiceImpl } from '@connectrpc/connect';
import type { ProbeResult } from '../../../ports/inbound/operations.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { KeyManagementService } from './gen/kms/v2/api_pb.js';
import { endpointUrl, type Endpoint } from './endpoint.js';
import { serviceDefinition, unaryCall } from './grpc-js.service.js';
import { listenOnSocket, removeSocketFile, socketInode, type SocketOptions } from './socket-listener.js';

export interface GrpcServerOptions {
  readonly endpoint: Endpoint;
  readonly socket: SocketOptions;
  /** Bounds what one request may make us allocate; KMSv2 messages stay under 40 KiB. */
  readonly maxMessageBytes: number;
}

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

  constructor(
    handlers: ServiceImpl<typeof KeyManagementService>,
    private readonly log: Logger,
    private readonly opts: GrpcServerOptions,
    extra: readonly ExtraService[] = [],
  ) {
    this.grpcServer = new grpc.Server({
      'grpc.max_receive_message_length': opts.maxMessageBytes,
      'grpc.max_send_message_length': opts.maxMessageBytes,
    });
    const svc = KeyManagementService;
    const impl: grpc.UntypedServiceImplementation = {};
    for (const m of svc.methods) {
      const fn = handlers[m.localName as keyof typeof handlers];
      impl[m.localName] = unaryCall(svc, m, fn as never);
    }
    this.grpcServer.addService(serviceDefinition(svc), impl);
    for (const e of extra) this.grpcServer.addService(e.definition, e.implementation);
  }

  async start(): Promise<void> {
    const injector = this.grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.injector = injector;
    this.net = await listenOnSocket(this.opts.endpoint, this.opts.socket, (s) => {
      this.sockets.add(s);
      s.once('close', () => {
        this.sockets.delete(s);
        if (this.sockets.size === 0) this.onIdle?.();
      });
      injector.injectConnection(s);
    });
    this.inode = socketInode(this.opts.endpoint);
    this.log.info(
      { endpoint: endpointUrl(this.opts.endpoint), mode: this.opts.socket.mode.toString(8) },
      'serving KMSv2',
    );
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
