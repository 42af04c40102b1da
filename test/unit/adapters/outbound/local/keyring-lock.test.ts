import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withKeyringLock } from '../../../../../src/adapters/outbound/local/keyring-lock.js';
import { BackendUnavailableError } from '../../../../../src/domain/model/errors.js';

// Lets a test make the lock file's content write fail, as on a full disk: creating
// the (empty) file needs no data block, writing the pid into it does.
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return { ...real, open: vi.fn(real.open) };
});
const realOpen = (await vi.importActual<typeof import('node:fs/promises')>('node:fs/promises')).open;

function failLockWriteOnce(code: string): void {
  vi.mocked(fsp.open).mockImplementationOnce(async (...args: Parameters<typeof realOpen>) => {
    const fh = await realOpen(...args);
    return {
      writeFile: () => Promise.reject(Object.assign(new Error(`${code}: write failed`), { code })),
      close: () => fh.close(),
    } as unknown as fsp.FileHandle;
  });
}

describe('withKeyringLock on a full disk (reliability campaign: rotate with the state directory full)', () => {
  let dir: string;
  let keyring: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-lock-'));
    keyring = join(dir, 'keyring.json');
  });
  afterEach(async () => {
    vi.mocked(fsp.open).mockReset();
    vi.mocked(fsp.open).mockImplementation(realOpen);
    await rm(dir, { recursive: true, force: true });
  });

  it('fails with the cause and leaves no lock file behind when the pid cannot be written', async () => {
    failLockWriteOnce('ENOSPC');
    const work = vi.fn(async () => 'done');
    const err = await withKeyringLock(keyring, work).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(/cannot lock the keyring .*ENOSPC/);
    expect(work).not.toHaveBeenCalled();
    expect(existsSync(`${keyring}.lock`)).toBe(false);
  });

  it('so the next rotation, once space is back, takes the lock at once (not after the 60 s stale-lock wait)', async () => {
    failLockWriteOnce('ENOSPC');
    await withKeyringLock(keyring, async () => 'x').catch(() => undefined);
    const started = Date.now();
    await expect(withKeyringLock(keyring, async () => 'second')).resolves.toBe('second');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
