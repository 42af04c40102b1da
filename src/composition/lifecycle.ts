import type { Container } from 'inversify';
import { GrpcJsKmsServer } from '../adapters/inbound/grpc/grpc-js.server.js';
import { endpointUrl, parseEndpoint } from '../adapters/inbound/grpc/endpoint.js';
import { healthService } from '../adapters/inbound/grpc/health.service.js';
import { assertSocketAvailable } from '../adapters/inbound/grpc/socket-listener.js';
import { kmsV2Handlers } from '../adapters/inbound/grpc/kms-v2.handlers.js';
import { keyStateMetrics } from '../domain/services/backend-metrics.js';
import { KeyStateHealthProbes } from '../domain/services/health-probes.js';
import type { Logger } from '../ports/outbound/logger.port.js';
import { buildContainer } from './container.js';
import { callObserver, createMetrics, startOperationsHttp, type OperationsEndpoint } from './observability.js';
import { MAX_MESSAGE_BYTES, type Config } from './config/schema.js';
import { resolveGid } from './groups.js';
import { RefreshLoop } from './refresh-loop.js';
import { TOKENS } from './tokens.js';

export interface RunningServer {
  /** Graceful stop: the order matters and is fixed here. Idempotent. */
  stop(): Promise<void>;
  readonly endpoint: string;
  /** Where /livez, /readyz and /metrics are served; undefined when httpAddress is "". */
  readonly httpUrl: string | undefined;
}

/**
 * Owns startup and shutdown order. Startup: backend (fails fast on a broken
 * keyring or config), first key refresh, the HTTP health/metrics endpoint
 * (before the socket, so a taken port fails before we hold the socket), the
 * socket, then the background refresh. After startup, backend trouble only
 * degrades health and readiness; the process stays up.
 */
export async function startServer(config: Config, logger: Logger, env: NodeJS.ProcessEnv): Promise<RunningServer> {
  const endpoint = parseEndpoint(config.socket);
  await assertSocketAvailable(endpoint);
  const metrics = createMetrics();
  const observer = keyStateMetrics(metrics, config.backend);
  const container: Container = buildContainer({ config, logger, env, metrics, observer });
  let http: OperationsEndpoint | undefined;
  try {
    const tracker = await container.getAsync(TOKENS.KeyStateTracker);
    const km = await container.getAsync(TOKENS.KeyManagement);
    const loop = new RefreshLoop(tracker, config.refreshInterval, logger);
    await loop.first();
    let server: GrpcJsKmsServer | undefined;
    const probes = new KeyStateHealthProbes(tracker, () => server?.socketServed() ?? { ok: false, reason: 'starting' });
    http = await startOperationsHttp(config.httpAddress, probes, metrics, logger);
    server = new GrpcJsKmsServer(
      kmsV2Handlers(km, logger, callObserver(metrics)),
      logger,
      {
        endpoint,
        socket: { mode: config.socketMode, gid: resolveGid(config.socketGroup) },
        maxMessageBytes: MAX_MESSAGE_BYTES,
      },
      [healthService(probes)],
    );
    await server.start();
    loop.start();
    logStartup(logger, config, endpointUrl(endpoint), tracker.snapshot().current?.keyId, http?.url);
    let stopping: Promise<void> | undefined;
    const grpcServer = server;
    const httpServer = http;
    return {
      endpoint: endpointUrl(endpoint),
      httpUrl: http?.url,
      stop: () =>
        (stopping ??= (async () => {
          logger.info({ graceMs: config.shutdownGrace }, 'shutting down');
          await grpcServer.shutdown(config.shutdownGrace);
          loop.stop();
          await httpServer?.close(); // after the drain, so metrics stay scrapeable while calls finish
          await container.unbindAllAsync();
          logger.info({}, 'stopped');
        })()),
    };
  } catch (err) {
    await http?.close().catch(() => undefined);
    await container.unbindAllAsync().catch(() => undefined);
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
