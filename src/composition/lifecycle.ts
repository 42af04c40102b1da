import type { Container } from 'inversify';
import { GrpcJsKmsServer } from '../adapters/inbound/grpc/grpc-js.server.js';
import { endpointUrl, parseEndpoint } from '../adapters/inbound/grpc/endpoint.js';
import { kmsV2Handlers } from '../adapters/inbound/grpc/kms-v2.handlers.js';
import type { Logger } from '../ports/outbound/logger.port.js';
import { buildContainer } from './container.js';
import { MAX_MESSAGE_BYTES, type Config } from './config/schema.js';
import { resolveGid } from './groups.js';
import { RefreshLoop } from './refresh-loop.js';
import { TOKENS } from './tokens.js';

export interface RunningServer {
  /** Graceful stop: the order matters and is fixed here. Idempotent. */
  stop(): Promise<void>;
  readonly endpoint: string;
}

/**
 * Owns startup and shutdown order. Startup: backend (fails fast on a broken
 * keyring or config), first key refresh, background refresh, then the socket.
 * After startup, backend trouble only degrades health; the process stays up.
 */
export async function startServer(config: Config, logger: Logger, env: NodeJS.ProcessEnv): Promise<RunningServer> {
  const endpoint = parseEndpoint(config.socket);
  const container: Container = buildContainer({ config, logger, env });
  try {
    const tracker = await container.getAsync(TOKENS.KeyStateTracker);
    const km = await container.getAsync(TOKENS.KeyManagement);
    const loop = new RefreshLoop(tracker, config.refreshInterval, logger);
    await loop.first();
    const server = new GrpcJsKmsServer(kmsV2Handlers(km, logger), logger, {
      endpoint,
      socket: { mode: config.socketMode, gid: resolveGid(config.socketGroup) },
      maxMessageBytes: MAX_MESSAGE_BYTES,
    });
    await server.start();
    loop.start();
    logStartup(logger, config, endpointUrl(endpoint), tracker.snapshot().current?.keyId);
    let stopping: Promise<void> | undefined;
    return {
      endpoint: endpointUrl(endpoint),
      stop: () =>
        (stopping ??= (async () => {
          logger.info({ graceMs: config.shutdownGrace }, 'shutting down');
          await server.shutdown(config.shutdownGrace);
          loop.stop();
          await container.unbindAllAsync();
          logger.info({}, 'stopped');
        })()),
    };
  } catch (err) {
    await container.unbindAllAsync().catch(() => undefined);
    throw err;
  }
}

function logStartup(logger: Logger, config: Config, endpoint: string, keyId: string | undefined): void {
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
    { endpoint, backend: config.backend, keyId, stateDir: config.stateDir, encryptionConfiguration: snippet },
    'kleidi is ready; point kube-apiserver --encryption-provider-config at the encryptionConfiguration shown',
  );
}
