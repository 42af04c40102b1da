/** The answer of one health check; `reason` is short, secret-free text for a human. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly reason: string;
}

/**
 * What the operational endpoints (HTTP /livez and /readyz, grpc.health.v1)
 * ask. Both answers come from state kleidi already holds: neither call
 * reaches the backend, so a probe can never add load to it or hang.
 */
export interface HealthProbes {
  /**
   * Alive: the process runs and the KMS socket is served. Never depends on
   * the backend, so a backend outage does not get the plugin restarted.
   */
  liveness(): ProbeResult;
  /**
   * Ready: the backend's cached probe is healthy and recent, i.e. Status
   * would answer healthz "ok" (the same rule kube-apiserver sees).
   */
  readiness(): ProbeResult;
}

/** A metrics snapshot in a text exposition format, for /metrics. */
export interface MetricsExposition {
  readonly contentType: string;
  render(): Promise<string>;
}
