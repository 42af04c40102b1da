import type { KeyStateTracker } from '../domain/services/key-state-tracker.js';
import type { Logger } from '../ports/outbound/logger.port.js';

/** A refresh never runs longer than this, so a hung backend cannot freeze health reporting. */
const MAX_REFRESH_MS = 10_000;

/**
 * Drives the KeyStateTracker: one refresh at startup, then one per interval.
 * Timers are unref'd so they never keep a stopping process alive.
 */
export class RefreshLoop {
  private timer: NodeJS.Timeout | undefined;
  private readonly budget: number;

  constructor(
    private readonly tracker: KeyStateTracker,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {
    this.budget = Math.min(MAX_REFRESH_MS, Math.max(this.intervalMs, 2_000));
  }

  /** The startup refresh. A failure is logged, not thrown: Status reports it and later refreshes retry. */
  async first(): Promise<void> {
    const h = await this.tracker.refresh(AbortSignal.timeout(this.budget));
    if (!h.healthy) this.log.warn({ reason: h.reason }, 'backend not healthy at startup; serving and retrying');
  }

  start(): void {
    const tick = () => {
      void this.tracker.refresh(AbortSignal.timeout(this.budget)).finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.intervalMs).unref();
      });
    };
    this.timer = setTimeout(tick, this.intervalMs).unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
