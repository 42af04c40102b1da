import type { Cluster } from './context.js';

/** Figures a scenario measured: seconds, counts, key_ids, flags. */
export type Figures = Record<string, number | string | boolean>;

export interface Scenario {
  readonly name: string;
  /** Left out of --quick runs (long waits). */
  readonly slow?: boolean;
  run(c: Cluster, f: Figures): Promise<void>;
}
