import * as grpc from '@grpc/grpc-js';
import type { Server as NetServer } from 'node:net';
import type { ServiceImpl } from '@connectrpc/connect';
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
    this.net = await listenOnSocket(this.opts.endpoint, this.opts.socket, (s) => injector.injectConnection(s));
    this.inode = socketInode(this.opts.endpoint);
    this.log.info({ endpoint: endpointUrl(this.opts.endpoint), mode: this.opts.socket.mode.toString(8) }, 'serving KMSv2');
  }

  /**
   * Stops accepting, lets in-flight calls finish within `graceMs`, sends
   * GOAWAY on the long-lived HTTP/2 sessions, then removes the socket.
   */
  async shutdown(graceMs: number): Promise<void> {
    const net = this.net;
    this.net = undefined;
    net?.close();
    const graceful = new Promise<boolean>((resolve) => this.grpcServer.tryShutdown(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), graceMs).unref());
    if (!(await Promise.race([graceful, timeout]))) {
      this.log.warn({ graceMs }, 'grace period over; cancelling the calls still in flight');
      this.grpcServer.forceShutdown();
    }
    removeSocketFile(this.opts.endpoint, this.inode);
  }
}
