import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type MessageInitShape, type DescMessage, type DescMethod, type DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, createHandlerContext, type HandlerContext } from '@connectrpc/connect';
import { CancelledError, DeadlineExceededError } from '../../../domain/model/errors.js';

/** Marks a request body that is not valid protobuf, so it is answered INVALID_ARGUMENT, not INTERNAL. */
const MALFORMED = Symbol('malformed-request');
type Decoded = object | typeof MALFORMED;
const DEADLINE_SLACK_MS = 100;
type UnaryFn = (req: never, ctx: HandlerContext) => Promise<unknown>;

/**
 * Builds a grpc-js service definition from the protoc-gen-es descriptor:
 * one type system (@bufbuild/protobuf), no proto-loader or protobufjs.
 */
export function serviceDefinition(svc: DescService): grpc.ServiceDefinition {
  return Object.fromEntries(
    svc.methods.map((m) => [
      m.localName,
      {
        path: `/${svc.typeName}/${m.name}`, // e.g. /v2.KeyManagementService/Encrypt
        requestStream: false,
        responseStream: false,
        requestSerialize: (msg: MessageInitShape<DescMessage>) => Buffer.from(toBinary(m.input, create(m.input, msg))),
        requestDeserialize: (buf: Buffer): Decoded => decode(m.input, buf),
        responseSerialize: (msg: MessageInitShape<DescMessage>) => Buffer.from(toBinary(m.output, create(m.output, msg))),
        responseDeserialize: (buf: Buffer) => fromBinary(m.output, buf),
      },
    ]),
  );
}

function decode(desc: DescMessage, buf: Buffer): Decoded {
  try {
    return fromBinary(desc, buf);
  } catch {
    return MALFORMED;
  }
}

/**
 * Adapts a Connect unary handler to grpc-js. The handler's signal aborts with
 * a DeadlineExceededError when the caller's grpc-timeout passes (kube-apiserver
 * sends 3 s by default) and with a CancelledError when the caller goes away,
 * so backend work stops and no late success is sent.
 */
export function unaryCall(svc: DescService, method: DescMethod, fn: UnaryFn): grpc.handleUnaryCall<Decoded, unknown> {
  return (call, callback) => {
    const ac = new AbortController();
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    let timer: NodeJS.Timeout | undefined;
    if (Number.isFinite(at)) {
      const abortLate = () => ac.abort(new DeadlineExceededError('the caller\'s deadline passed before the backend answered'));
      timer = setTimeout(abortLate, Math.max(0, at - Date.now()));
    }
    // grpc-js cancels the call itself when the deadline passes, possibly a few ms before our
    // timer (its clock starts when the headers arrive), so a cancel that close counts as the deadline.
    call.once('cancelled', () =>
      ac.abort(
        Date.now() >= at - DEADLINE_SLACK_MS
          ? new DeadlineExceededError('the caller\'s deadline passed before the backend answered')
          : new CancelledError('the caller cancelled the call'),
      ),
    );
    if (call.request === MALFORMED) {
      clearTimeout(timer);
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'request is not a valid protobuf message' });
      return;
    }
    const ctx = createHandlerContext({
      service: svc,
      method,
      protocolName: 'grpc',
      requestMethod: 'POST',
      url: `/${svc.typeName}/${method.name}`,
      requestSignal: ac.signal,
    });
    fn(call.request as never, ctx).then(
      (res) => {
        clearTimeout(timer);
        callback(null, res);
      },
      (err: unknown) => {
        clearTimeout(timer);
        const e = err instanceof ConnectError ? err : new ConnectError('internal error', Code.Internal);
        callback({ code: e.code as number, details: e.rawMessage });
      },
    );
  };
}
