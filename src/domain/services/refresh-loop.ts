import { DeadlineExceededError } from '../model/errors.js';
import type { BackendHealth } from '../model/health.js';
import type { Clock, Timer } from '../../ports/outbound/clock.port.js';
import type { Logger } from '../../ports/outbound/logger.port.js';
import type { KeyStateTracker } from './key-state-tracker.js';

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
 * with backend trouble (KeyStateTracker.suspect). An early probe is never
 * dropped, only deferred: asked for while a refresh runs, it starts when that
 * one ends (unless that one already answered the suspicion); asked for less
 * than the spacing after the last start, it starts when the spacing is up.
 * Time comes from the Clock port: intervals and spacing on its monotonic
 * clock, and its timers never keep a stopping process alive.
 */
export class RefreshLoop {
  private timer: Timer | undefined;
  /** Monotonic time the pending timer fires at. */
  private timerDue = Number.POSITIVE_INFINITY;
  private readonly budget: number;
  private running = false;
  /** The background refresh under way, if any; stop() waits for it. */
  private inFlight: Promise<void> | undefined;
  private lastStart = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly tracker: KeyStateTracker,
    private readonly intervalMs: number,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.budget = Math.min(MAX_REFRESH_MS, Math.max(this.intervalMs, 2_000));
  }

  /** The startup refresh. A failure is logged, not thrown: Status reports it and later refreshes retry. */
  async first(): Promise<void> {
    const h = await this.refresh();
    if (!h.healthy) this.log.warn({ reason: h.reason }, 'backend not healthy at startup; serving and retrying');
  }

  start(): void {
    this.running = true;
    this.tracker.onSuspect(() => this.earlyProbe());
    this.schedule(this.tracker.snapshot().health.healthy);
  }

  /**
   * Stops scheduling and resolves once a refresh still under way has
   * finished, so the caller can close the backend without pulling it from
   * under a probe (which would log a spurious "probe failed"). The wait is
   * bounded by the refresh budget.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.tracker.onSuspect(undefined);
    this.timer?.cancel();
    this.timer = undefined;
    await this.inFlight;
  }

  private schedule(healthy: boolean): void {
    this.setTimer(healthy ? this.intervalMs : Math.min(this.intervalMs, UNHEALTHY_RETRY_MS));
  }

  private setTimer(wait: number): void {
    this.timer?.cancel();
    this.timerDue = this.clock.monotonic() + wait;
    this.timer = this.clock.setTimer(wait, () => this.tick());
  }

  private tick(): void {
    this.timerDue = Number.POSITIVE_INFINITY;
    if (!this.running || this.inFlight) return;
    this.inFlight = this.refresh()
      .then(
        (h) => h.healthy,
        () => false,
      )
      .then((healthy) => {
        this.inFlight = undefined;
        if (!this.running) return;
        // A suspicion that came while this refresh ran, and that it could not answer, gets its own probe.
        if (this.tracker.suspected()) this.earlyProbe();
        else this.schedule(healthy);
      });
  }

  private earlyProbe(): void {
    // A refresh under way hands over to the next one when it ends (tick above).
    if (!this.running || this.inFlight) return;
    const wait = this.lastStart + MIN_EARLY_PROBE_SPACING_MS - this.clock.monotonic();
    if (wait <= 0) {
      this.timer?.cancel();
      this.tick();
    } else if (this.clock.monotonic() + wait < this.timerDue) {
      this.setTimer(wait);
    }
  }

  /** One tracker refresh within the budget; the deadline is the same error a late backend call gets. */
  private async refresh(): Promise<BackendHealth> {
    this.lastStart = this.clock.monotonic();
    const budget = new AbortController();
    const timer = this.clock.setTimer(this.budget, () =>
      budget.abort(new DeadlineExceededError('the time budget ran out before the backend answered')),
    );
    try {
      return await this.tracker.refresh(budget.signal);
    } finally {
      timer.cancel();
    }
  }
}
