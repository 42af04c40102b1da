import { connect } from 'node:net';
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { KeyManagementService } from '../grpc/gen/kms/v2/api_pb.js';
import { listenTarget, parseEndpoint } from '../grpc/endpoint.js';

/**
 * An independent KMSv2 client for the CLI (status, encrypt, decrypt): the
 * Connect gRPC transport over the Unix socket, so the diagnostics do not
 * share code with the grpc-js server they check.
 */
export function kmsClient(socket: string): { client: Client<typeof KeyManagementService>; close(): void } {
  const target = listenTarget(parseEndpoint(socket));
  const transport = createGrpcTransport({
    // The authority is never checked by kleidi; "localhost" is what apiservers ≥1.32 send.
    baseUrl: 'http://localhost',
    nodeOptions: { createConnection: () => connect(target) },
  });
  return { client: createClient(KeyManagementService, transport), close: () => undefined };
}
