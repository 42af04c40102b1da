import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Machines are 2-core and shared: keep concurrency modest so timing-sensitive
    // integration tests (deadlines, shutdown grace) are not starved.
    maxWorkers: 2,
  },
});
