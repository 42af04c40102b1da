/** Wall-clock time in milliseconds since the epoch; a port so tests can control it. */
export interface Clock {
  now(): number;
}
