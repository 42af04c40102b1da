import * as grpc from '@grpc/grpc-js';
import { constants as h2 } from 'node:http2';
import {
  create,
  fromBinary,
  toBinary,
  type MessageInitShape,
  type MessageShape,
  type DescMessage,
  type DescMethod,
  type DescService,
} from '@bufbuild/protobuf';
import { Code, ConnectError, createContextValues, type ContextValues, type HandlerContext } from '@connectrpc/connect';
import { CancelledError, DeadlineExceededError } from '../../../domain/model/errors.js';

/**
 * Marks a request body that is not valid protobuf. grpc-js answers a throw
 * from requestDeserialize with INTERNAL itself, before any handler runs, so
 * every service on the socket decodes with `decodeRequest` and answers this
 * marker with MALFORMED_REQUEST: the caller's bytes are wrong, not kleidi.
 */
export const MALFORMED = Symbol('malformed-request');
export type Decoded<M extends object = object> = M | typeof MALFORMED;

/** The one answer to a malformed request body, on the KMS service and grpc.health.v1 alike. */
export const MALFORMED_REQUEST = {
  code: grpc.status.INVALID_ARGUMENT,
  details: 'request is not a valid protobuf message',
} as const satisfies Partial<grpc.StatusObject>;
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
        requestDeserialize: (buf: Buffer): Decoded => decodeRequest(m.input, buf),
        responseSerialize: (msg: MessageInitShape<DescMessage>) =>
          Buffer.from(toBinary(m.output, create(m.output, msg))),
        responseDeserialize: (buf: Buffer) => fromBinary(m.output, buf),
      },
    ]),
  );
}

/** Decodes a request body; bytes that are not a valid `desc` message become MALFORMED instead of a throw. */
export function decodeRequest<D extends DescMessage>(desc: D, buf: Buffer): Decoded<MessageShape<D>> {
  try {
    return fromBinary(desc, buf);
  } catch {
    return MALFORMED;
  }
}

/**
 * Adapts a Connect unary handler to grpc-js. The handler's signal aborts with
 * a DeadlineExceededError when the caller's grpc-timeout passes (kube-apiserver
 * sends 3 s by default), or `maxCallMs` for a call that carries no deadline or
 * a longer one, and with a CancelledError when the caller goes away, so
 * backend work stops and no late success is sent.
 *
 * grpc-js gives the deadline as wall-clock time (Date.now() + grpc-timeout when
 * the headers arrived); it is turned into time left once, when the handler
 * starts, and everything after runs on the monotonic clock (performance.now),
 * so a wall-clock step (NTP, a VM resume) neither fires the deadline early nor
 * turns the deadline into a cancel.
 */
export function unaryCall(
  svc: DescService,
  method: DescMethod,
  fn: UnaryFn,
  maxCallMs: number = Number.POSITIVE_INFINITY,
): grpc.handleUnaryCall<Decoded, unknown> {
  const url = `/${svc.typeName}/${method.name}`;
  return (call, callback) => {
    const ac = new AbortController();
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    const leftMs = Math.min(at - Date.now(), maxCallMs);
    const deadlineAt = performance.now() + leftMs; // monotonic from here on
    let timer: NodeJS.Timeout | undefined;
    if (Number.isFinite(leftMs)) {
      const abortLate = () =>
        ac.abort(new DeadlineExceededError("the caller's deadline passed before the backend answered"));
      timer = setTimeout(abortLate, Math.max(0, leftMs));
    }
    // grpc-js cancels the call itself when the deadline passes, possibly a few ms before our
    // timer (its clock starts when the headers arrive), so a cancel that close counts as the deadline.
    const onCancelled = () =>
      ac.abort(
        performance.now() >= deadlineAt - DEADLINE_SLACK_MS
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
      callback(MALFORMED_REQUEST);
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
 * Ends, at `maxCallMs` after its headers arrived, a unary call that carries
 * no deadline or a longer one, whether or not its request was ever completed:
 * a request sent half-way (headers, no end of stream) never reaches a handler,
 * so only this, at the stream level, stops it from being held forever. A
 * call with a shorter deadline passes through untouched (grpc-js enforces it
 * with a timer of its own), so kube-apiserver's calls, which always carry its
 * EncryptionConfiguration timeout, cost nothing extra. Server-streaming calls
 * (health Watch) are long-lived by design and bounded in number instead.
 */
export function callDeadlineInterceptor(maxCallMs: number): grpc.ServerInterceptor {
  return (method, call) => {
    // grpc-js types an interceptor's result as the ServerInterceptingCall class but only calls the
    // interface on it (getServerInterceptingCall in @grpc/grpc-js src/server-interceptors.ts), so
    // a call that needs nothing is handed on as it is, without a wrapper per call.
    const untouched = call as grpc.ServerInterceptingCall;
    if (method.responseStream) return untouched;
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    // The same tick in which grpc-js computed `at` from Date.now(), so no clock step can fall in between.
    if (at - Date.now() <= maxCallMs) return untouched;
    let timer: NodeJS.Timeout | undefined;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        timer = setTimeout(() => {
          call.sendStatus({
            code: grpc.status.DEADLINE_EXCEEDED,
            details: `the call ran past kleidi's limit of ${maxCallMs} ms (maxCallDuration)`,
          });
          closeStream(call);
        }, maxCallMs);
        next({
          onCancel: () => clearTimeout(timer),
        });
      },
      sendStatus: (status, next) => {
        clearTimeout(timer);
        next(status);
      },
    });
  };
}

/**
 * After a status sent before the request was complete, grpc-js leaves the
 * HTTP/2 stream half-closed, still counted against the connection's stream
 * limit, until the client ends it; a client that never does would hold it
 * forever. RFC 9113 §8.1 lets a server that has answered ask the client to
 * stop sending with RST_STREAM(NO_ERROR), which frees the stream; Node sends
 * it once the status is written. grpc-js keeps the stream on its base call
 * (BaseServerInterceptingCall.stream in @grpc/grpc-js 1.14 src/server-interceptors.ts),
 * which is what an interceptor given first in the list receives.
 */
function closeStream(call: grpc.ServerInterceptingCallInterface): void {
  const stream = (call as { stream?: { closed?: boolean; close?: (code: number) => void } }).stream;
  if (stream && !stream.closed && typeof stream.close === 'function') stream.close(h2.NGHTTP2_NO_ERROR);
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
