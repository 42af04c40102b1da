import type { BenchComparison, TestServer } from './harness.js';

/**
 * The local backend has no server: its keyring lives in each kleidi's state directory, which
 * the runner owns (the conformance harness shares one between its nodes; the benchmark runs
 * `kleidi init` in each before timing anything).
 */
export async function prepare(): Promise<void> {}

export async function start(_dir: string): Promise<TestServer> {
  return { env: {}, stop: async () => {} };
}

/** The Go reference plugin does what kleidi does with a local key; the Node floor is the cheapest Node plugin. */
export const bench: BenchComparison = {
  baseline: { plugin: 'go-reference' },
  references: [{ plugin: 'node-floor' }],
};
