import { describe, expect, it } from 'vitest';
import { applyHeapFlags, HEAP_FLAGS } from '#src/heap-tuning.js';

describe('heap tuning (docs/benchmarks.md)', () => {
  it('applies every flag when the operator set none', () => {
    expect(applyHeapFlags('')).toEqual([...HEAP_FLAGS]);
  });

  it('leaves a flag the operator gave in NODE_OPTIONS or on the command line, in either spelling', () => {
    expect(applyHeapFlags('--heap-growing-percent=80')).toEqual(['--semi-space-growth-factor=1']);
    expect(applyHeapFlags('--max-old-space-size=512 --semi_space_growth_factor=2')).toEqual([
      '--heap-growing-percent=50',
    ]);
  });
});
