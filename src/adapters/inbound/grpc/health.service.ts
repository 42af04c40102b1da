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

/** How often a Watch stream re-evaluates the status; readiness only changes on a background refresh. */
const WATCH_POLL_MS = 1_000;

/** "" is the server as a whole; the KMS service is the only other one that has a health of its own. */
const KNOWN = new Set(['', KeyManagementService.typeName]);

/**
 * grpc.health.v1.Health on the plugin socket, for grpc_health_probe and
 * kubelet gRPC probes (https://github.com/grpc/grpc/blob/master/doc/health-checking.md).
 * SERVING exactly when /readyz would say ready, i.e. when Status would
 * answer healthz "ok"; an unknown service is NOT_FOUND (Check) or
 * SERVICE_UNKNOWN (Watch), as the spec says.
 */
export function healthService(probes: HealthProbes): ExtraService {
  const status = (): ServingStatus => (probes.readiness().ok ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  const check: grpc.handleUnaryCall<HealthCheckRequest, HealthCheckResponse> = (call, callback) => {
    if (!KNOWN.has(call.request.service)) {
      callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
      return;
    }
    callback(null, create(HealthCheckResponseSchema, { status: status() }));
  };
  const watch: grpc.handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse> = (call) => {
    const known = KNOWN.has(call.request.service);
    let last: ServingStatus | undefined;
    const send = () => {
      const now = known ? status() : ServingStatus.SERVICE_UNKNOWN;
      if (now !== last) call.write(create(HealthCheckResponseSchema, { status: now }));
      last = now;
    };
    send();
    const timer = setInterval(send, WATCH_POLL_MS);
    timer.unref();
    // The stream ends when the client cancels or the server shuts down (grpc-js cancels open calls).
    call.once('cancelled', () => clearInterval(timer));
    call.once('close', () => clearInterval(timer));
  };
  return { definition: healthDefinition(), implementation: { check, watch } };
}

function healthDefinition(): grpc.ServiceDefinition {
  const [checkMethod, watchMethod] = [Health.method.check, Health.method.watch];
  const codec = {
    requestSerialize: (m: HealthCheckRequest) => Buffer.from(toBinary(HealthCheckRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(HealthCheckRequestSchema, b),
    responseSerialize: (m: HealthCheckResponse) => Buffer.from(toBinary(HealthCheckResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
  };
  return {
    check: { path: `/${Health.typeName}/${checkMethod.name}`, requestStream: false, responseStream: false, ...codec },
    watch: { path: `/${Health.typeName}/${watchMethod.name}`, requestStream: false, responseStream: true, ...codec },
  };
}
