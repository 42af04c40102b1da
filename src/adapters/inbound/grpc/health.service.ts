import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { HealthProbes } from '../../../ports/inbound/operations.port.js';
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from './gen/grpc/health/v1/health_pb.js';
import { KeyManagementService } from './gen/kms/v2/api_pb.js';
import type { ExtraService } from './grpc-js.server.js';
import { decodeRequest, MALFORMED, MALFORMED_REQUEST, type Decoded } from './grpc-js.service.js';

/** How often a Watch stream re-evaluates the status; readiness only changes on a background refresh. */
const WATCH_POLL_MS = 1_000;

/** "" is the server as a whole; the KMS service is the only other one that has a health of its own. */
const KNOWN = new Set(['', KeyManagementService.typeName]);

/**
 * grpc.health.v1.Health on the plugin socket, for grpc_health_probe and
 * kubelet gRPC probes (https://github.com/grpc/grpc/blob/master/doc/health-checking.md).
 * SERVING exactly when /readyz would say ready, i.e. when Status would
 * answer healthz "ok"; an unknown service is NOT_FOUND (Check) or
 * SERVICE_UNKNOWN (Watch), as the spec says. A request body that is not
 * valid protobuf is answered as the KMS service answers it (MALFORMED_REQUEST).
 * At most `maxWatches` Watch streams are open at once; one more is refused
 * with RESOURCE_EXHAUSTED (Check is what kubelet and grpc_health_probe use).
 */
export function healthService(probes: HealthProbes, limits: { readonly maxWatches: number }): ExtraService {
  const status = (): ServingStatus => (probes.readiness().ok ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  const check: grpc.handleUnaryCall<Decoded<HealthCheckRequest>, HealthCheckResponse> = (call, callback) => {
    const req = call.request;
    if (req === MALFORMED) {
      callback(MALFORMED_REQUEST);
      return;
    }
    if (!KNOWN.has(req.service)) {
      callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${req.service}` });
      return;
    }
    callback(null, create(HealthCheckResponseSchema, { status: status() }));
  };
  // Every open Watch stream, re-evaluated by one shared timer that runs only while there is one.
  const watchers = new Set<() => void>();
  let ticker: NodeJS.Timeout | undefined;
  const unwatch = (send: () => void) => {
    watchers.delete(send);
    if (watchers.size === 0) {
      clearInterval(ticker);
      ticker = undefined;
    }
  };
  const watch: grpc.handleServerStreamingCall<Decoded<HealthCheckRequest>, HealthCheckResponse> = (call) => {
    const req = call.request;
    if (req === MALFORMED) {
      call.emit('error', MALFORMED_REQUEST); // grpc-js ends the stream with this status
      return;
    }
    if (watchers.size >= limits.maxWatches) {
      call.emit('error', {
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `${limits.maxWatches} health Watch streams are open already (maxHealthWatches); use Check`,
      });
      return;
    }
    const known = KNOWN.has(req.service);
    let last: ServingStatus | undefined;
    const send = () => {
      const now = known ? status() : ServingStatus.SERVICE_UNKNOWN;
      if (now !== last) call.write(create(HealthCheckResponseSchema, { status: now }));
      last = now;
    };
    send();
    watchers.add(send);
    ticker ??= setInterval(() => {
      for (const w of watchers) w();
    }, WATCH_POLL_MS).unref();
    // The stream ends when the client cancels or the server shuts down (grpc-js cancels open calls).
    call.once('cancelled', () => unwatch(send));
    call.once('close', () => unwatch(send));
  };
  return { definition: healthDefinition(), implementation: { check, watch } };
}

function healthDefinition(): grpc.ServiceDefinition {
  const [checkMethod, watchMethod] = [Health.method.check, Health.method.watch];
  const codec = {
    requestSerialize: (m: HealthCheckRequest) => Buffer.from(toBinary(HealthCheckRequestSchema, m)),
    requestDeserialize: (b: Buffer) => decodeRequest(HealthCheckRequestSchema, b),
    responseSerialize: (m: HealthCheckResponse) => Buffer.from(toBinary(HealthCheckResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
  };
  return {
    check: { path: `/${Health.typeName}/${checkMethod.name}`, requestStream: false, responseStream: false, ...codec },
    watch: { path: `/${Health.typeName}/${watchMethod.name}`, requestStream: false, responseStream: true, ...codec },
  };
}
