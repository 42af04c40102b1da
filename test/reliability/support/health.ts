import { DEADLINE_MS } from './deadline.js';
import { sleep } from './env.js';
import { statusOnce, type StatusSample } from './kleidi.js';

export interface TimedSample extends StatusSample {
  readonly t: number;
  /** How long Status took to answer (or to fail). */
  readonly ms: number;
}

/**
 * Polls Status every `everyMs`, as kube-apiserver's health check would, and
 * keeps the timeline. "ok" means Status answered with healthz "ok"; an error
 * answer or a non-ok healthz both count as reporting the outage.
 *
 * Each Status gets the apiserver's own deadline: kmsv2.NewGRPCService gives
 * Status the same per-call timeout as Encrypt and Decrypt (3 s by default,
 * https://github.com/kubernetes/kubernetes/blob/v1.35.10/staging/src/k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/grpc_service.go#L134-L135).
 * A shorter deadline here would count as an outage a Status the apiserver
 * accepts, which on a busy machine measures the machine, not kleidi; how long
 * each Status took is kept (`ms`) so slow answers still show.
 */
export class HealthWatch {
  readonly samples: TimedSample[] = [];
  private stopped = false;
  private loop: Promise<void>;

  constructor(
    private readonly socket: string,
    private readonly everyMs = 250,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const t = Date.now();
      const s = await statusOnce(this.socket, DEADLINE_MS);
      this.samples.push({ t, ms: Date.now() - t, ...s });
      const wait = this.everyMs - (Date.now() - t);
      if (wait > 0) await sleep(wait);
    }
  }

  /** Resolves with the time of the first sample at or after `since` that satisfies `pred`, or undefined on timeout. */
  async waitFor(pred: (s: TimedSample) => boolean, since: number, timeoutMs: number): Promise<TimedSample | undefined> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.samples.find((s) => s.t >= since && pred(s));
      if (hit) return hit;
      if (Date.now() > until) return undefined;
      await sleep(50);
    }
  }

  /** Samples in [from, to]. */
  between(from: number, to: number): TimedSample[] {
    return this.samples.filter((s) => s.t >= from && s.t <= to);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

export const isOk = (s: StatusSample) => s.answered && s.healthz === 'ok';
export const isOutage = (s: StatusSample) => !isOk(s);

/** What the apiserver would see: healthz text or the gRPC error (code and message). */
export function describe(s: StatusSample): string {
  return s.answered ? `healthz=${JSON.stringify(s.healthz)}` : `error code ${s.code}: ${s.message ?? ''}`;
}
