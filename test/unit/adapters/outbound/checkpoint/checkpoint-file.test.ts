import { chmod, chown, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointFile } from '#src/adapters/outbound/checkpoint/checkpoint-file.js';
import type { ReencryptCheckpoint } from '#src/domain/model/reencrypt.js';

describe('CheckpointFile: the reencrypt state file', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-ckpt-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const cp: ReencryptCheckpoint = {
    version: 1,
    cluster: 'https://10.0.0.1:6443',
    complete: false,
    resources: {
      secrets: { after: 'ns/a', done: false, rewritten: 3, deleted: 1 },
      configmaps: { done: true, rewritten: 0, deleted: 0 },
    },
  };

  it('is absent until saved; saves atomically as 0600 and loads what it saved', async () => {
    const f = new CheckpointFile(join(dir, 'state.json'));
    expect(await f.load()).toBeUndefined();
    await f.save(cp);
    await f.save({ ...cp, complete: true });
    expect(await f.load()).toEqual({ ...cp, complete: true });
    expect((await stat(join(dir, 'state.json'))).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('refuses a file that is not a checkpoint, naming it and the way out', async () => {
    const path = join(dir, 'state.json');
    for (const text of ['not json', '{"version":2}', JSON.stringify({ ...cp, resources: { s: { done: 'yes' } } })]) {
      await writeFile(path, text, { mode: 0o600 });
      await expect(new CheckpointFile(path).load()).rejects.toThrow(
        `state file ${path} is not a kleidi reencrypt checkpoint (remove it, or pass --restart)`,
      );
    }
    await expect(new CheckpointFile(dir).load()).rejects.toThrow(`state file ${dir} is not a checkpoint`);
  });

  it('refuses a checkpoint others may write or another user owns: it decides what is skipped', async () => {
    const path = join(dir, 'state.json');
    await writeFile(path, JSON.stringify({ ...cp, complete: false }), { mode: 0o600 });
    await chmod(path, 0o666);
    await expect(new CheckpointFile(path).load()).rejects.toThrow(
      `state file ${path} is not yours alone (owner uid ${process.geteuid?.()}, mode 0666); remove it, or pass --restart`,
    );
    await chmod(path, 0o600);
    if (process.geteuid?.() !== 0) return; // giving the file to another user takes root (CI runs as root)
    await chown(path, 12345, 12345);
    await expect(new CheckpointFile(path).load()).rejects.toThrow(/is not yours alone \(owner uid 12345, mode 0600\)/);
  });

  it('says which file it cannot write', async () => {
    const f = new CheckpointFile(join(dir, 'missing-dir', 'state.json'));
    await expect(f.save(cp)).rejects.toThrow(
      `cannot write the state file ${join(dir, 'missing-dir', 'state.json')}: ENOENT`,
    );
    expect(await readdir(dir)).toEqual([]);
  });
});
