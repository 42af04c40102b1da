import { KmsError } from '../model/errors.js';
import { HEALTHZ_OK } from '../model/health.js';
import type { HealthProbes, ProbeResult } from '../../ports/inbound/operations.port.js';
import type { KeyStateTracker } from './key-state-tracker.js';

const OK: ProbeResult = { ok: true, reason: 'ok' };

/**
 * Liveness and readiness from state kleidi already holds (no backend call):
 *
 * - live  = the KMS socket is served (the caller supplies that check);
 * - ready = Status would answer healthz "ok": the last background probe
 *   succeeded recently and no error has latched that stops writes.
 *
 * A backend outage makes kleidi unready, never dead, so the kubelet does not
 * restart a plugin that is only waiting for its backend: restarting cannot fix
 * the backend, which is also why the Kubernetes docs keep KMS checks out of the
 * apiserver's liveness (/livez?exclude=kms-providers,
 * https://kubernetes.io/docs/tasks/administer-cluster/kms-provider/).
 */
export class KeyStateHealthProbes implements HealthProbes {
  constructor(
    private readonly tracker: KeyStateTracker,
    private readonly socketServed: () => ProbeResult,
  ) {}

  liveness(): ProbeResult {
    return this.socketServed();
  }

  readiness(): ProbeResult {
    const live = this.socketServed();
    if (!live.ok) return live;
    try {
      const s = this.tracker.status();
      return s.healthz === HEALTHZ_OK ? OK : { ok: false, reason: s.healthz };
    } catch (err) {
      // status() throws when writes must stop or no key was ever obtained; messages are safe by design.
      const reason = err instanceof KmsError ? `${err.kind}: ${err.message}` : 'backend state unknown';
      return { ok: false, reason };
    }
  }
}
