import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  DecryptRequestSchema,
  DecryptResponseSchema,
  EncryptRequestSchema,
  EncryptResponseSchema,
  StatusRequestSchema,
  StatusResponseSchema,
  type DecryptResponse,
  type EncryptResponse,
  type StatusResponse,
} from '#src/adapters/inbound/grpc/gen/kms/v2/api_pb.js';

type DecryptInit = { ciphertext: Uint8Array; keyId: string; annotations: Record<string, Uint8Array>; uid?: string };

/**
 * An independent KMSv2 client on @grpc/grpc-js (not the server's code):
 * hand-written method definitions, as kube-apiserver's grpc-go client would
 * send. `raw` sends arbitrary bytes as a request body.
 */
export class KmsTestClient {
  private readonly client: grpc.Client;

  constructor(socketPath: string, options: grpc.ClientOptions = {}) {
    this.client = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure(), options);
  }

  status(deadlineMs = 3_000): Promise<StatusResponse> {
    const body = toBinary(StatusRequestSchema, create(StatusRequestSchema, {}));
    return this.call('Status', body, deadlineMs).then((b) => fromBinary(StatusResponseSchema, b));
  }

  encrypt(plaintext: Uint8Array, deadlineMs = 3_000, uid = crypto.randomUUID()): Promise<EncryptResponse> {
    const body = toBinary(EncryptRequestSchema, create(EncryptRequestSchema, { plaintext, uid }));
    return this.call('Encrypt', body, deadlineMs).then((b) => fromBinary(EncryptResponseSchema, b));
  }

  decrypt(req: DecryptInit, deadlineMs = 3_000): Promise<DecryptResponse> {
    const body = toBinary(DecryptRequestSchema, create(DecryptRequestSchema, { uid: crypto.randomUUID(), ...req }));
    return this.call('Decrypt', body, deadlineMs).then((b) => fromBinary(DecryptResponseSchema, b));
  }

  /** Sends `body` as-is to /v2.KeyManagementService/<method>. */
  call(method: 'Status' | 'Encrypt' | 'Decrypt', body: Uint8Array, deadlineMs = 3_000): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/v2.KeyManagementService/${method}`,
        (b: Uint8Array) => Buffer.from(b),
        (b: Buffer) => b,
        body,
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, res) => (err ? reject(err) : res ? resolve(res) : reject(new Error('empty response'))),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

/** The gRPC status code of a rejected call. */
export async function codeOf(p: Promise<unknown>): Promise<number | 'OK'> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
}

export const Status = grpc.status;
