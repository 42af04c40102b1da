import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
    expect(r.output()).toMatch(/cannot (write the keyring|lock the keyring).*not-a-dir/);
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
});
