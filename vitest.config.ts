import { defineConfig } from 'vitest/config';

/**
 * Three projects, picked with `--project` (package.json's test:unit, test:contract,
 * test:integration); a bare `vitest run` runs all three. npm test (scripts/test-all.sh) runs
 * them without the contract files of backends with a test server, which
 * `npm run test:backend -- <name>` runs against that server.
 *
 * - unit: in-process, no server, no build; a short timeout, so a test that starts
 *   to wait on real time or I/O fails fast instead of slowing `npm run check`.
 * - contract: each outbound adapter against its real backend (SoftHSM2, a Vault
 *   test server), which its fixture starts.
 * - integration: the built CLI as a real process on a real socket, and the gRPC
 *   fuzz run. Its globalSetup compiles dist/ first, so no test runs a stale build.
 *
 * The reliability campaign keeps its own config (test/reliability/vitest.config.ts).
 */
export default defineConfig({
  test: {
    // Machines are 2-core and shared: keep concurrency modest so timing-sensitive
    // integration tests (deadlines, shutdown grace) are not starved.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 5_000,
          hookTimeout: 10_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'contract',
          include: ['test/contract/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/fuzz/**/*.test.ts'],
          globalSetup: ['test/support/build-dist.global.ts'],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
