import { KmsError } from '../model/errors.js';
import type { KeyVersion, WrappedKey } from '../model/key-version.js';
import type { KeyWrapper } from '../../ports/outbound/key-wrapper.port.js';
import type { BackendOp, BackendOutcome, Metrics } from '../../ports/outbound/metrics.port.js';
import type { KeyStateObserver } from './key-state-tracker.js';

/** The bounded outcome label of a settled operation: never the error's message. */
export function outcomeOf(err: unknown): BackendOutcome {
  return err instanceof KmsError ? err.kind : 'internal';
}

/**
 * A KeyWrapper decorator that counts and times every backend operation by
 * op and outcome, as other KMS plugins do (e.g. the aws-encryption-provider's
 * per-operation latency histogram,
 * https://github.com/kubernetes-sigs/aws-encryption-provider/blob/master/pkg/plugin/metrics.go).
 * It changes no behaviour: results and errors pass through untouched, so
 * the contract suite holds for the decorated wrapper too. The health probe
 * of KeyStateTracker goes through it as well, so each refresh interval adds
 * one currentVersion, one wrap and one unwrap.
 */
export class InstrumentedKeyWrapper implements KeyWrapper {
  readonly backend: string;

  constructor(
    private readonly inner: KeyWrapper,
    private readonly metrics: Metrics,
  ) {
    this.backend = inner.backend;
  }

  currentVersion(signal: AbortSignal): Promise<KeyVersion> {
    return this.timed('currentVersion', () => this.inner.currentVersion(signal));
  }

  wrap(seed: Uint8Array, version: KeyVersion, signal: AbortSignal): Promise<WrappedKey> {
    return this.timed('wrap', () => this.inner.wrap(seed, version, signal));
  }

  unwrap(wrapped: WrappedKey, signal: AbortSignal): Promise<Uint8Array> {
    return this.timed('unwrap', () => this.inner.unwrap(wrapped, signal));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async timed<T>(op: BackendOp, fn: () => Promise<T>): Promise<T> {
    const done = this.metrics.startBackendOp(this.backend, op);
    try {
      const out = await fn();
      done('ok');
      return out;
    } catch (err) {
      done(outcomeOf(err));
      throw err;
    }
  }
}

/**
 * Feeds the key-state metrics from KeyStateTracker's refreshes: backend
 * health, the current key_id, and rotations. `next` is called too, so other
 * observers keep working.
 */
export function keyStateMetrics(metrics: Metrics, backend: string, next: KeyStateObserver = {}): KeyStateObserver {
  return {
    onRefresh(health, current) {
      metrics.setBackendHealth(backend, health.healthy, health.lastSuccessAt);
      if (current) metrics.setCurrentKey(backend, current.keyId);
      next.onRefresh?.(health, current);
    },
    onRotation(from, to) {
      metrics.countRotation(backend);
      next.onRotation?.(from, to);
    },
    onOverdue(health) {
      metrics.setBackendHealth(backend, false, health.lastSuccessAt);
      next.onOverdue?.(health);
    },
  };
}
