import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/** Campaign files run one at a time, in file-name order (the log scan, 90-, comes last). */
class ByName extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId));
  }
}

/**
 * The reliability campaign (docs/reliability.md), run by scripts/reliability.mjs
 * (`npm run test:reliability`). Its files end in `.campaign.ts`, so the default
 * vitest run (`test/**\/*.test.ts`) never picks them up.
 */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/reliability/**/*.campaign.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    sequence: { sequencer: ByName },
    // A soak (`-- --soak 30m`) runs each backend's fault list for its share of the soak.
    testTimeout: 300_000 + Number(process.env.RELIABILITY_SOAK_MS ?? 0),
    hookTimeout: 180_000,
    // Long sequences: print each test as it finishes.
    reporters: ['verbose'],
  },
});
