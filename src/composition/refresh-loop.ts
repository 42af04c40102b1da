import type { KeyStateTracker } from '../domain/services/key-state-tracker.js';
import type { Logger } from '../ports/outbound/logger.port.js';

/** A refresh never runs longer than this, so a hung backend cannot freeze health reporting. */
const MAX_REFRESH_MS = 10_000;
/**
 * While the backend is unhealthy it is re-probed this often (or at the
 * interval, if shorter), so Status reports its return within about a second
 * rather than one full interval later.
 */
const UNHEALTHY_RETRY_MS = 1_000;
/** Early probes asked for by failing live calls start at most this often. */
const MIN_EARLY_PROBE_SPACING_MS = 1_000;

/**
 * Drives the KeyStateTracker: one refresh at startup, then one per interval
 * (every second while unhealthy), plus an early one when a live call fails
 * with backend trouble (KeyStateTracker.suspect). Timers are unref'd so they
 * never keep a stopping process alive.
 */
export class RefreshLoop {
  private timer: NodeJS.Timeout | undefined;
  private readonly budget: number;
  private running = false;
  private refreshing = false;
  private lastStart = 0;

  constructor(
    private readonly tracker: KeyStateTracker,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {
    this.budget = Math.min(MAX_REFRESH_MS, Math.max(this.intervalMs, 2_000));
  }

  /** The startup refresh. A failure is logged, not thrown: Status reports it and later refreshes retry. */
  async first(): Promise<void> {
    this.lastStart = Date.now();
    const h = await this.tracker.refresh(AbortSignal.timeout(this.budget));
    if (!h.healthy) this.log.warn({ reason: h.reason }, 'backend not healthy at startup; serving and retrying');
  }

  start(): void {
    this.running = true;
    this.tracker.onSuspect(() => this.earlyProbe());
    this.schedule(this.tracker.snapshot().health.healthy);
  }

  stop(): void {
    this.running = false;
    this.tracker.onSuspect(undefined);
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(healthy: boolean): void {
    clearTimeout(this.timer);
    const wait = healthy ? this.intervalMs : Math.min(this.intervalMs, UNHEALTHY_RETRY_MS);
    this.timer = setTimeout(() => this.tick(), wait).unref();
  }

  private tick(): void {
    if (!this.running || this.refreshing) return;
    this.refreshing = true;
    this.lastStart = Date.now();
    void this.tracker
      .refresh(AbortSignal.timeout(this.budget))
      .then(
        (h) => h.healthy,
        () => false,
      )
      .then((healthy) => {
        this.refreshing = false;
        if (this.running) this.schedule(healthy);
      });
  }

  private earlyProbe(): void {
    if (!this.running || this.refreshing || Date.now() - this.lastStart < MIN_EARLY_PROBE_SPACING_MS) return;
    clearTimeout(this.timer);
    this.tick();
  }
}
