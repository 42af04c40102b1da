import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { KeyId } from '../../../domain/model/key-id.js';
import type { MetricsExposition } from '../../../ports/inbound/operations.port.js';
import type {
  BackendOp,
  BackendOutcome,
  BackendRequestCounts,
  KmsMethod,
  Metrics,
} from '../../../ports/outbound/metrics.port.js';

/**
 * Request latency buckets: the Kubernetes docs ask plugins for Encrypt < 100 ms
 * and Decrypt < 10 ms (https://kubernetes.io/docs/tasks/administer-cluster/kms-provider/), and the
 * apiserver gives up after its KMS timeout, 3 s by default (defaultTimeout in
 * https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/apiserver/pkg/apis/apiserver/v1/defaults.go),
 * so the buckets are fine below 10 ms and end just past 3 s.
 */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The Metrics port on prom-client, in its own Registry (never the global one,
 * so two instances in one process, as in tests, do not collide). Names follow
 * Prometheus naming (https://prometheus.io/docs/practices/naming/): `_total`
 * counters, `_seconds` units, `_info` gauges.
 */
export class PrometheusMetrics implements Metrics, MetricsExposition {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'code'>;
  private readonly requestSeconds: Histogram<'method' | 'code'>;
  private readonly backendOps: Counter<'backend' | 'op' | 'outcome'>;
  private readonly backendSeconds: Histogram<'backend' | 'op' | 'outcome'>;
  private readonly healthy: Gauge<'backend'>;
  private readonly lastSuccess: Gauge<'backend'>;
  private readonly currentKey: Gauge<'backend' | 'key_id'>;
  private readonly rotations: Counter<'backend'>;
  private readonly expiryReaders = new Map<string, () => number | undefined>();
  private readonly requestReaders = new Map<string, () => BackendRequestCounts>();
  private readonly keyByBackend = new Map<string, KeyId>();

  /** `info` becomes the labels of `kleidi_build_info` (e.g. version); keep it to a few fixed values. */
  constructor(info: Readonly<Record<string, string>> = {}) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry }); // process_* and nodejs_* incl. event-loop lag
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Counter({ name, help, labelNames, registers });
    const gauge = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Gauge({ name, help, labelNames, registers });
    const histogram = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Histogram({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers });

    gauge('kleidi_build_info', 'Always 1; labels describe this build', Object.keys(info)).set(info, 1);
    this.requests = counter('kleidi_kms_requests_total', 'KMSv2 calls served, by method and gRPC code', [
      'method',
      'code',
    ]);
    this.requestSeconds = histogram(
      'kleidi_kms_request_duration_seconds',
      'KMSv2 call latency, by method and gRPC code',
      ['method', 'code'],
    );
    const opLabels: Array<'backend' | 'op' | 'outcome'> = ['backend', 'op', 'outcome'];
    this.backendOps = counter(
      'kleidi_backend_operations_total',
      'Backend operations (including health probes), by op and outcome',
      opLabels,
    );
    this.backendSeconds = histogram(
      'kleidi_backend_operation_duration_seconds',
      'Backend operation latency, by op and outcome',
      opLabels,
    );
    this.healthy = gauge(
      'kleidi_backend_healthy',
      '1 while the backend is healthy (its last probe succeeded and none is overdue after a failed call), else 0',
      ['backend'],
    );
    this.lastSuccess = gauge(
      'kleidi_backend_last_success_timestamp_seconds',
      'When the backend probe last succeeded (Unix time)',
      ['backend'],
    );
    this.currentKey = gauge('kleidi_current_key_info', 'Always 1; key_id is what Status and Encrypt report now', [
      'backend',
      'key_id',
    ]);
    this.rotations = counter('kleidi_key_rotations_total', 'key_id changes seen by the background refresh', [
      'backend',
    ]);
    const readers = this.expiryReaders;
    new Gauge({
      name: 'kleidi_backend_token_expiry_timestamp_seconds',
      help: 'When the backend credential (Vault token) expires (Unix time); absent when it never expires',
      labelNames: ['backend'],
      registers,
      // Read at scrape time, so the value is as current as the renewer's own state.
      collect() {
        this.reset();
        for (const [backend, read] of readers) {
          const at = safeRead(read);
          if (at !== undefined) this.set({ backend }, at / 1000);
        }
      },
    });
    // The adapter counts; a scrape copies its totals. reset() + inc(total) sets a counter to the
    // adapter's own monotonic count, which restarts at 0 only when the process does.
    const requestReaders = this.requestReaders;
    const requestCounter = (name: string, help: string, field: keyof BackendRequestCounts) =>
      new Counter({
        name,
        help,
        labelNames: ['backend'],
        registers,
        collect() {
          this.reset();
          for (const [backend, read] of requestReaders) {
            const n = safeCount(read, field);
            if (n !== undefined) this.inc({ backend }, n);
          }
        },
      });
    requestCounter(
      'kleidi_backend_requests_total',
      'Requests the backend adapter sent to its service, retries included (adapters that retry themselves)',
      'attempts',
    );
    requestCounter(
      'kleidi_backend_request_retries_total',
      'Requests the backend adapter sent again after a failed attempt',
      'retries',
    );
    requestCounter(
      'kleidi_backend_throttled_total',
      'Backend requests refused for their rate (throttling), whether a retry then succeeded or not',
      'throttled',
    );
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  observeRequest(method: KmsMethod, code: string, seconds: number): void {
    this.requests.inc({ method, code });
    this.requestSeconds.observe({ method, code }, seconds);
  }

  startBackendOp(backend: string, op: BackendOp): (outcome: BackendOutcome) => void {
    const end = this.backendSeconds.startTimer({ backend, op });
    let ended = false;
    return (outcome) => {
      if (ended) return;
      ended = true;
      end({ outcome });
      this.backendOps.inc({ backend, op, outcome });
    };
  }

  setBackendHealth(backend: string, healthy: boolean, lastSuccessAt: number | undefined): void {
    this.healthy.set({ backend }, healthy ? 1 : 0);
    this.rotations.inc({ backend }, 0); // the series exists (at 0) before the first rotation, for rate() and alerts
    if (lastSuccessAt !== undefined) this.lastSuccess.set({ backend }, lastSuccessAt / 1000);
  }

  setCurrentKey(backend: string, keyId: KeyId): void {
    const previous = this.keyByBackend.get(backend);
    if (previous === keyId) return;
    // One series per backend: drop the old key_id so dashboards see exactly one current key.
    if (previous !== undefined) this.currentKey.remove({ backend, key_id: previous });
    this.keyByBackend.set(backend, keyId);
    this.currentKey.set({ backend, key_id: keyId }, 1);
  }

  countRotation(backend: string): void {
    this.rotations.inc({ backend });
  }

  watchCredentialExpiry(backend: string, read: () => number | undefined): void {
    this.expiryReaders.set(backend, read);
  }

  watchBackendRequests(backend: string, read: () => BackendRequestCounts): void {
    this.requestReaders.set(backend, read);
  }
}

function safeCount(read: () => BackendRequestCounts, field: keyof BackendRequestCounts): number | undefined {
  try {
    const v = read()[field];
    return Number.isFinite(v) && v >= 0 ? v : undefined;
  } catch {
    return undefined; // a metrics read must never break a scrape
  }
}

function safeRead(read: () => number | undefined): number | undefined {
  try {
    const v = read();
    return v !== undefined && Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined; // a metrics read must never break a scrape
  }
}
