import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type KleidiProcess, startKleidi, tempDir } from '../support/kleidi-process.js';

const PRELOAD = fileURLToPath(new URL('../support/inject-rejection.preload.mjs', import.meta.url));

/**
 * docs/adr/0007-unknown-state-exits.md: an unhandled promise rejection means
 * kleidi no longer knows its own state. It used to be logged and ignored, so
 * the plugin kept serving in that state; now it logs at fatal and exits 70
 * for its supervisor (kubelet, systemd) to restart it.
 */
describe('an unhandled promise rejection in a running kleidi', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let k: KleidiProcess | undefined;
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await k?.stop('SIGKILL');
    await tmp.cleanup();
  });

  it('is logged at fatal and ends the process with exit code 70', async () => {
    k = await startKleidi(tmp.dir, [], { NODE_OPTIONS: `--import=${PRELOAD}` });
    k.proc.kill('SIGUSR2');
    const code = await Promise.race([k.exited, new Promise((r) => setTimeout(() => r('still running'), 5_000))]);
    expect(code).toBe(70);
    const fatal = k
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level?: string; msg?: string; err?: { message?: string } })
      .find((l) => l.level === 'fatal');
    expect(fatal?.msg).toMatch(/unhandled promise rejection/);
    expect(fatal?.err?.message).toBe('rejection injected by the test');
  });
});
