import { OperationsHttpServer } from '../adapters/inbound/http/operations.server.js';
import { parseHttpAddress } from '../adapters/inbound/http/http-address.js';
import type { CallObserver } from '../adapters/inbound/grpc/kms-v2.handlers.js';
import { PrometheusMetrics } from '../adapters/outbound/prometheus/prometheus.metrics.js';
import { InstrumentedKeyWrapper } from '../domain/services/backend-metrics.js';
import type { HealthProbes } from '../ports/inbound/operations.port.js';
import type { KeyWrapper } from '../ports/outbound/key-wrapper.port.js';
import type { Logger } from '../ports/outbound/logger.port.js';
import type { BackendRequestStats, CredentialExpiry, KmsMethod, Metrics } from '../ports/outbound/metrics.port.js';
import { versionInfo } from './version.js';

/** The process's metrics: one prom-client registry per server instance. */
export function createMetrics(): PrometheusMetrics {
  const v = versionInfo();
  return new PrometheusMetrics({ version: v.kleidi, node: v.node });
}

/** Feeds finished KMSv2 calls from the gRPC handlers into the metrics. */
export function callObserver(metrics: Metrics): CallObserver {
  return (method: KmsMethod, code, seconds) => metrics.observeRequest(method, code, seconds);
}

/**
 * Decorates the backend's KeyWrapper with per-operation metrics and, when
 * the backend holds an expiring credential, registers its expiry gauge; when
 * its adapter retries requests itself, registers its request counters.
 * Without metrics the wrapper is returned unchanged.
 */
export function instrumentWrapper(w: KeyWrapper, metrics: Metrics | undefined): KeyWrapper {
  if (!metrics) return w;
  const expiry = credentialExpiryOf(w);
  if (expiry) metrics.watchCredentialExpiry(w.backend, expiry);
  const requests = w as Partial<BackendRequestStats>;
  if (typeof requests.backendRequestCounts === 'function') {
    const read = requests.backendRequestCounts;
    metrics.watchBackendRequests(w.backend, () => read.call(w));
  }
  return new InstrumentedKeyWrapper(w, metrics);
}

/**
 * The generic hook (`CredentialExpiry`) or, failing that, the Vault adapter's
 * `details().tokenExpiresAt` (ISO time, VaultTokenState). Duck-typed so the
 * composition root does not depend on one backend's class.
 */
function credentialExpiryOf(w: KeyWrapper): (() => number | undefined) | undefined {
  const hook = w as Partial<CredentialExpiry> & { details?: () => unknown };
  if (typeof hook.credentialExpiresAt === 'function') return () => hook.credentialExpiresAt?.call(w);
  const details = hook.details;
  if (typeof details !== 'function') return undefined;
  return () => {
    const d = details.call(w);
    const at = typeof d === 'object' && d !== null && 'tokenExpiresAt' in d ? d.tokenExpiresAt : undefined;
    return typeof at === 'string' ? Date.parse(at) : undefined;
  };
}

export interface OperationsEndpoint {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts /livez, /readyz and /metrics on `httpAddress`; "" (off) resolves to undefined. */
export async function startOperationsHttp(
  httpAddress: string,
  probes: HealthProbes,
  metrics: PrometheusMetrics,
  logger: Logger,
): Promise<OperationsEndpoint | undefined> {
  if (httpAddress === '') {
    logger.info({}, 'HTTP health and metrics endpoint is off (httpAddress "")');
    return undefined;
  }
  const address = parseHttpAddress(httpAddress);
  if (!address) throw new Error(`httpAddress "${httpAddress}" is not host:port`); // the config schema refuses it first
  const server = new OperationsHttpServer(probes, metrics, logger.child({ component: 'http' }));
  try {
    const url = await server.start(address);
    return { url, close: () => server.close() };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `cannot serve health and metrics on ${httpAddress} (${code ?? String(err)}); ` +
        'choose another --http-address, or "" to turn the endpoint off',
      { cause: err },
    );
  }
}
