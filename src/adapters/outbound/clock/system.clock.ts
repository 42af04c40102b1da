import { performance } from 'node:perf_hooks';
import type { Clock } from '../../../ports/outbound/clock.port.js';

/**
 * The process's clocks: Date.now() for wall time, performance.now() for the
 * monotonic one (Node's high-resolution clock, unaffected by changes to the
 * system time: https://nodejs.org/api/perf_hooks.html#performancenow), and
 * unref'd timers, so a pending one never holds a stopping process open.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms).unref();
    return { cancel: () => clearTimeout(t) };
  },
};
