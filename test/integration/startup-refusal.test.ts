import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runKleidi, startKleidi, tempDir } from '../support/kleidi-process.js';

describe('refuses to start, naming the problem, and never touches key material', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  const serve = (stateDir: string, extra: string[] = [], env: Record<string, string> = {}) =>
    runKleidi(['serve', '--socket', join(tmp.dir, 'kms.sock'), '--state-dir', stateDir, ...extra], env);

  async function existingKeyring(): Promise<{ stateDir: string; file: string; bytes: Buffer }> {
    const k = await startKleidi(tmp.dir);
    await k.stop();
    const file = join(k.stateDir, 'keyring.json');
    return { stateDir: k.stateDir, file, bytes: readFileSync(file) };
  }

  it('a group- or world-readable keyring', async () => {
    const { stateDir, file, bytes } = await existingKeyring();
    chmodSync(file, 0o644);
    const r = serve(stateDir);
    expect(await r.exited).toBe(1);
    expect(r.output()).toContain('has mode 0644');
    expect(readFileSync(file)).toEqual(bytes);
  });

  it('a corrupt keyring', async () => {
    const stateDir = join(tmp.dir, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    const file = join(stateDir, 'keyring.json');
    writeFileSync(file, '{"kind":"kleidi-keyring","format":1,"keys":[{"version":1}]}', { mode: 0o600 });
    const before = readFileSync(file);
    const r = serve(stateDir);
    expect(await r.exited).toBe(1);
    expect(r.output()).toMatch(/keyring file .* is corrupt/);
    expect(readFileSync(file)).toEqual(before);
  });

  it('a state directory that cannot be written', async () => {
    const blocker = join(tmp.dir, 'not-a-dir');
    writeFileSync(blocker, 'x');
    const r = serve(join(blocker, 'state'));
    expect(await r.exited).toBe(1);
    expect(r.output()).toMatch(/cannot (write the keyring|lock the keyring|read the keyring directory).*not-a-dir/);
  });

  it('a socket path that is a regular file', async () => {
    const sock = join(tmp.dir, 'kms.sock');
    writeFileSync(sock, 'precious');
    const r = serve(join(tmp.dir, 'state'));
    expect(await r.exited).toBe(1);
    expect(r.output()).toContain('is not a socket');
    expect(readFileSync(sock, 'utf8')).toBe('precious');
  });

  it('invalid settings: every problem reported at once, exit code 2', async () => {
    const r = serve(join(tmp.dir, 'state'), ['--refresh-interval', 'soon', '--socket-mode', '0666'], {
      KLEIDI_LOG_LEVEL: 'loud',
    });
    expect(await r.exited).toBe(2);
    const out = r.output();
    expect(out).toContain('refreshInterval');
    expect(out).toContain('socketMode');
    expect(out).toContain('logLevel');
  });

  it('the in-memory backend without an explicit acknowledgement', async () => {
    const r = serve(join(tmp.dir, 'state'), ['--backend', 'in-memory']);
    expect(await r.exited).toBe(2);
    expect(r.output()).toContain('acknowledgeDataLoss');
  });

  /**
   * A refused start must leave no trace: these refusals used to come after
   * the backend had opened, so a first start created keyring.json and its
   * marker and then exited 1, leaving a new keyring an operator never asked
   * for (and, with the marker, a state directory that "had" one).
   */
  describe('checks the socket, its group and the HTTP address before any backend state', () => {
    const untouched = (stateDir: string) => {
      expect(existsSync(join(stateDir, 'keyring.json')), 'keyring.json').toBe(false);
      expect(existsSync(join(stateDir, '.keyring-created')), 'marker').toBe(false);
    };

    it('a socket group that does not exist', async () => {
      const stateDir = join(tmp.dir, 'state');
      const r = serve(stateDir, ['--socket-group', 'no-such-group-kleidi']);
      expect(await r.exited).toBe(1);
      expect(r.output()).toContain('group "no-such-group-kleidi" does not exist');
      untouched(stateDir);
    });

    it('an HTTP address that is taken', async () => {
      const blocker: Server = createServer();
      await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
      try {
        const port = (blocker.address() as { port: number }).port;
        const stateDir = join(tmp.dir, 'state');
        const r = serve(stateDir, ['--http-address', `127.0.0.1:${port}`]);
        expect(await r.exited).toBe(1);
        expect(r.output()).toContain('EADDRINUSE');
        untouched(stateDir);
      } finally {
        blocker.close();
      }
    });

    it('a socket path longer than a Unix socket address holds', async () => {
      const stateDir = join(tmp.dir, 'state');
      const r = runKleidi(['serve', '--socket', join(tmp.dir, `${'s'.repeat(120)}.sock`), '--state-dir', stateDir]);
      expect(await r.exited).toBe(1);
      expect(r.output()).toMatch(/socket path .* is longer than/);
      untouched(stateDir);
    });

    it('a socket directory kleidi cannot create', async () => {
      const blocker = join(tmp.dir, 'not-a-dir');
      writeFileSync(blocker, 'x');
      const stateDir = join(tmp.dir, 'state');
      const r = runKleidi(['serve', '--socket', join(blocker, 'kms.sock'), '--state-dir', stateDir]);
      expect(await r.exited).toBe(1);
      expect(r.output()).toContain('not-a-dir');
      untouched(stateDir);
    });
  });
});
