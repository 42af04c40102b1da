import * as grpc from '@grpc/grpc-js';
import {
  create,
  fromBinary,
  toBinary,
  type MessageInitShape,
  type DescMessage,
  type DescMethod,
  type DescService,
} from '@bufbuild/protobuf';
import { Code, ConnectError, createContextValues, type ContextValues, type HandlerContext } from '@connectrpc/connect';
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
        responseSerialize: (msg: MessageInitShape<DescMessage>) =>
          Buffer.from(toBinary(m.output, create(m.output, msg))),
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
  const url = `/${svc.typeName}/${method.name}`;
  return (call, callback) => {
    const ac = new AbortController();
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    let timer: NodeJS.Timeout | undefined;
    if (Number.isFinite(at)) {
      const abortLate = () =>
        ac.abort(new DeadlineExceededError("the caller's deadline passed before the backend answered"));
      timer = setTimeout(abortLate, Math.max(0, at - Date.now()));
    }
    // grpc-js cancels the call itself when the deadline passes, possibly a few ms before our
    // timer (its clock starts when the headers arrive), so a cancel that close counts as the deadline.
    const onCancelled = () =>
      ac.abort(
        Date.now() >= at - DEADLINE_SLACK_MS
          ? new DeadlineExceededError("the caller's deadline passed before the backend answered")
          : new CancelledError('the caller cancelled the call'),
      );
    call.once('cancelled', onCancelled);
    // grpc-js also emits 'cancelled' after every call it has answered (notifyOnCancel once the
    // trailers are sent). By then nothing listens to the signal any more, so the listener goes
    // first: building an error (with its stack) and an abort event per call was 5 % of the CPU.
    const settle = () => {
      clearTimeout(timer);
      call.removeListener('cancelled', onCancelled);
    };
    if (call.request === MALFORMED) {
      settle();
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'request is not a valid protobuf message' });
      return;
    }
    fn(call.request as never, new GrpcHandlerContext(svc, method, url, ac.signal)).then(
      (res) => {
        settle();
        callback(null, res);
      },
      (err: unknown) => {
        settle();
        const e = err instanceof ConnectError ? err : new ConnectError('internal error', Code.Internal);
        callback({ code: e.code as number, details: e.rawMessage });
      },
    );
  };
}

/**
 * The Connect HandlerContext the handlers get, with what createHandlerContext
 * would give for this call (no timeout of its own, empty headers, fresh
 * context values) but built for the hot path: `signal` is the call's own
 * signal instead of a linked copy (createHandlerContext adds two more
 * AbortControllers per call), and the header objects, which no KMS handler
 * reads, are made only if something asks for them. A class, so one call
 * allocates one object rather than an object plus a closure per getter.
 */
class GrpcHandlerContext implements HandlerContext {
  readonly protocolName = 'grpc';
  readonly requestMethod = 'POST';
  private request: Headers | undefined;
  private response: Headers | undefined;
  private trailer: Headers | undefined;
  private contextValues: ContextValues | undefined;

  constructor(
    readonly service: DescService,
    readonly method: DescMethod,
    readonly url: string,
    readonly signal: AbortSignal,
  ) {}

  timeoutMs(): number | undefined {
    return undefined;
  }

  get requestHeader(): Headers {
    return (this.request ??= new Headers());
  }

  get responseHeader(): Headers {
    return (this.response ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.trailer ??= new Headers());
  }

  get values(): ContextValues {
    return (this.contextValues ??= createContextValues());
  }
}
