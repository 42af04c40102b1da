import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kmsClient } from '#src/adapters/inbound/cli/kms-client.js';
import { runKleidi, tempDir } from '../support/kleidi-process.js';

/**
 * An abstract Unix socket has no file, so no mode and no owner: any process in
 * the network namespace can connect (for a hostNetwork pod, every process on
 * the host). kleidi serves one only when the operator names the risk.
 */
describe('abstract sockets (unix:///@name)', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const running: ReturnType<typeof runKleidi>[] = [];
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    for (const r of running.splice(0)) {
      if (r.proc.exitCode === null) r.proc.kill('SIGKILL');
      await r.exited;
    }
    await tmp.cleanup();
  });

  const name = () => `kleidi-it-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const serve = (socket: string, env: Record<string, string> = {}, extra: string[] = []) => {
    const r = runKleidi(['serve', '--socket', socket, '--state-dir', join(tmp.dir, 'state'), ...extra], env);
    running.push(r);
    return r;
  };
  /** The exit code, or 'running' if the process is still up after `ms`. */
  const exitWithin = (r: ReturnType<typeof runKleidi>, ms: number) =>
    Promise.race([r.exited, new Promise<'running'>((res) => setTimeout(() => res('running'), ms))]);

  it('refuses to serve one unless allowAbstractSocketInsecure is set, naming the setting', async () => {
    const r = serve(`unix:///@${name()}`);
    expect(await exitWithin(r, 10_000)).toBe(2);
    expect(r.output()).toContain('allowAbstractSocketInsecure');
  });

  it('with allowAbstractSocketInsecure: serves, warns that any local process can call it, logs no mode', async () => {
    const socket = `unix:///@${name()}`;
    const r = serve(socket, { KLEIDI_ALLOW_ABSTRACT_SOCKET_INSECURE: 'true' });
    const { client } = kmsClient(socket);
    const deadline = performance.now() + 15_000;
    let keyId = '';
    while (!keyId && performance.now() < deadline && r.proc.exitCode === null) {
      keyId = await client.status({}, { timeoutMs: 500 }).then(
        (s) => s.keyId,
        () => '',
      );
      if (!keyId) await new Promise((res) => setTimeout(res, 100));
    }
    expect(keyId, r.output()).not.toBe('');
    const serving = r
      .output()
      .split('\n')
      .find((l) => l.includes('"serving KMSv2"'));
    expect(serving).toBeDefined();
    expect(serving).not.toContain('"mode"');
    expect(r.output()).toMatch(/"level":"warn".*any process in .*network namespace/);
  });

  it.each([
    ['socketMode', ['--socket-mode', '0600']],
    ['socketGroup', ['--socket-group', '0']],
  ])('refuses %s with an abstract socket, which has no file to apply it to', async (setting, flags) => {
    const r = serve(`unix:///@${name()}`, { KLEIDI_ALLOW_ABSTRACT_SOCKET_INSECURE: 'true' }, flags);
    expect(await exitWithin(r, 10_000)).toBe(2);
    expect(r.output()).toContain(setting);
    expect(r.output()).toMatch(/abstract/);
  });
});
