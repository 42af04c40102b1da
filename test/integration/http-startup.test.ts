import { unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runKleidi, startKleidi, tempDir } from '../support/kleidi-process.js';
import { get, loggedHttpUrl, until } from '../support/operations.js';

describe('the HTTP endpoint at startup and shutdown', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it('logs the HTTP address in the ready line, next to the socket', async () => {
    const k = await startKleidi(tmp.dir);
    const url = await loggedHttpUrl(k.output);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ready = k
      .output()
      .split('\n')
      .find((l) => l.includes('kleidi is ready'));
    expect(JSON.parse(ready ?? '{}')).toMatchObject({ http: url });
    await k.stop();
    await expect(fetch(`${url}/livez`)).rejects.toThrow(); // closed on shutdown
  });

  it('can be turned off with --http-address ""', async () => {
    const k = await startKleidi(tmp.dir, ['--http-address', '']);
    const ready = k
      .output()
      .split('\n')
      .find((l) => l.includes('kleidi is ready'));
    expect(JSON.parse(ready ?? '{}')).toMatchObject({ http: 'off' });
    expect(k.output()).not.toContain('serving health and metrics over HTTP');
    await k.stop();
  });

  it('refuses to start when the address is taken, before it takes the socket', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const run = runKleidi([
      'serve',
      '--socket',
      `${tmp.dir}/kms.sock`,
      '--state-dir',
      `${tmp.dir}/state`,
      '--http-address',
      `127.0.0.1:${port}`,
    ]);
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/cannot serve health and metrics on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/);
    expect(run.output()).not.toContain('serving KMSv2');
    blocker.close();
  });

  it('rejects an address that is not host:port as a configuration error (exit 2)', async () => {
    const run = runKleidi(['serve', '--state-dir', `${tmp.dir}/state`, '--http-address', 'localhost']);
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/httpAddress\b.*: must be host:port/);
  });

  it('reports not live once its socket file is deleted, so a restart recreates it', async () => {
    const k = await startKleidi(tmp.dir);
    const base = await loggedHttpUrl(k.output);
    expect((await get(base, '/livez')).status).toBe(200);
    unlinkSync(k.socket);
    const dead = await until(
      () => get(base, '/livez'),
      (r) => r.status === 503,
      2_000,
    );
    expect(dead.status).toBe(503);
    expect(dead.body).toMatch(/was removed or replaced/);
    expect((await get(base, '/readyz')).status).toBe(503);
    await k.stop();
  });
});
