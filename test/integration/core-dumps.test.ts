import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startKleidi, tempDir } from '../support/kleidi-process.js';

// /proc/<pid>/coredump_filter: one bit per kind of mapping a core dump may contain
// (https://man7.org/linux/man-pages/man5/core.5.html); the kernel's default is 0x33.
function coredumpFilter(pid: number | undefined): number {
  return Number.parseInt(readFileSync(`/proc/${pid}/coredump_filter`, 'utf8').trim(), 16);
}

describe('core dumps of the real process', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it('kleidi serve excludes every memory mapping from its core dumps (coredump_filter 0)', async () => {
    const k = await startKleidi(tmp.dir);
    try {
      expect(coredumpFilter(k.proc.pid)).toBe(0);
    } finally {
      await k.stop();
    }
  });
});
