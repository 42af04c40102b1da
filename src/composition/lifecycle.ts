import type { Container } from 'inversify';
import { GrpcJsKmsServer } from '../adapters/inbound/grpc/grpc-js.server.js';
import { endpointUrl, parseEndpoint } from '../adapters/inbound/grpc/endpoint.js';
import { healthService } from '../adapters/inbound/grpc/health.service.js';
import { resolveSocketGroup } from '../adapters/inbound/grpc/socket-group.js';
import { assertSocketAvailable } from '../adapters/inbound/grpc/socket-listener.js';
import { kmsV2Handlers } from '../adapters/inbound/grpc/kms-v2.handlers.js';
import { keyStateMetrics } from '../domain/services/backend-metrics.js';
import { KeyStateHealthProbes } from '../domain/services/health-probes.js';
import { RefreshLoop } from '../domain/services/refresh-loop.js';
import type { HealthProbes, ProbeResult } from '../ports/inbound/operations.port.js';
import type { Logger } from '../ports/outbound/logger.port.js';
import { buildContainer } from './container.js';
import { callObserver, createMetrics, startOperationsHttp } from './observability.js';
import { MAX_MESSAGE_BYTES, type Config } from './config/schema.js';
import { TOKENS } from './tokens.js';

export interface RunningServer {
  /** Graceful stop: the order matters and is fixed here. Idempotent. */
  stop(): Promise<void>;
  readonly endpoint: string;
  /** Where /livez, /readyz and /metrics are served; undefined when httpAddress is "". */
  readonly httpUrl: string | undefined;
}

const STARTING: ProbeResult = { ok: false, reason: 'starting' };

/**
 * Owns startup and shutdown order. Startup first checks and takes what can
 * be refused without the backend (the socket path, its group, the HTTP
 * port, which it binds), so a refused start leaves no backend state behind
 * (no new keyring). Then the backend (fails fast on a broken keyring or
 * config), the first key refresh, the socket, and the background refresh.
 * After startup, backend trouble only degrades health and readiness; the
 * process stays up.
 */
export async function startServer(config: Config, logger: Logger, env: NodeJS.ProcessEnv): Promise<RunningServer> {
  const endpoint = parseEndpoint(config.socket);
  await assertSocketAvailable(endpoint);
  const gid = await resolveSocketGroup(config.socketGroup);
  const metrics = createMetrics();
  // Until the backend is open the HTTP endpoint answers 503 "starting" for both probes.
  let probes: HealthProbes | undefined;
  const http = await startOperationsHttp(
    config.httpAddress,
    { liveness: () => probes?.liveness() ?? STARTING, readiness: () => probes?.readiness() ?? STARTING },
    metrics,
    logger,
  );
  const observer = keyStateMetrics(metrics, config.backend);
  let container: Container | undefined;
  try {
    container = buildContainer({ config, logger, env, metrics, observer });
    const tracker = await container.getAsync(TOKENS.KeyStateTracker);
    const km = await container.getAsync(TOKENS.KeyManagement);
    const clock = await container.getAsync(TOKENS.Clock);
    const loop = new RefreshLoop(tracker, config.refreshInterval, clock, logger);
    await loop.first();
    let server: GrpcJsKmsServer | undefined;
    const keyProbes = new KeyStateHealthProbes(tracker, () => server?.socketServed() ?? STARTING);
    probes = keyProbes;
    server = new GrpcJsKmsServer(
      kmsV2Handlers(km, logger, callObserver(metrics)),
      logger,
      {
        endpoint,
        socket: endpoint.kind === 'path' ? { mode: config.socketMode, gid } : undefined,
        maxMessageBytes: MAX_MESSAGE_BYTES,
        limits: {
          maxConnections: config.socketMaxConnections,
          maxConcurrentStreams: config.socketMaxStreams,
          handshakeTimeoutMs: config.socketHandshakeTimeout,
          idleTimeoutMs: config.socketIdleTimeout,
          maxCallMs: config.maxCallDuration,
        },
      },
      [healthService(keyProbes, { maxWatches: config.maxHealthWatches })],
    );
    await server.start();
    loop.start();
    logStartup(logger, config, endpointUrl(endpoint), tracker.snapshot().current?.keyId, http?.url);
    let stopping: Promise<void> | undefined;
    const grpcServer = server;
    const httpServer = http;
    const wired = container;
    return {
      endpoint: endpointUrl(endpoint),
      httpUrl: http?.url,
      stop: () =>
        (stopping ??= (async () => {
          logger.info({ graceMs: config.shutdownGrace }, 'shutting down');
          await grpcServer.shutdown(config.shutdownGrace);
          await loop.stop(); // before the backend closes below, so no probe runs against a closed backend
          await httpServer?.close(); // after the drain, so metrics stay scrapeable while calls finish
          await wired.unbindAllAsync();
          logger.info({}, 'stopped');
        })()),
    };
  } catch (err) {
    await http?.close().catch(() => undefined);
    await container?.unbindAllAsync().catch(() => undefined);
    throw err;
  }
}

function logStartup(
  logger: Logger,
  config: Config,
  endpoint: string,
  keyId: string | undefined,
  http: string | undefined,
): void {
  const snippet = [
    'apiVersion: apiserver.config.k8s.io/v1',
    'kind: EncryptionConfiguration',
    'resources:',
    '  - resources: [secrets, configmaps]',
    '    providers:',
    '      - kms:',
    '          apiVersion: v2',
    '          name: kleidi',
    `          endpoint: ${endpoint}`,
    '          timeout: 3s',
    '      - identity: {}',
  ].join('\n');
  logger.info(
    {
      endpoint,
      http: http ?? 'off',
      backend: config.backend,
      keyId,
      stateDir: config.stateDir,
      encryptionConfiguration: snippet,
    },
    'kleidi is ready; point kube-apiserver --encryption-provider-config at the encryptionConfiguration shown',
  );
}
