import { mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileStamp } from '#src/adapters/outbound/shared/file-stamp.js';

describe('fileStamp', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-stamp-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('is undefined for a missing file and changes when the file is replaced', async () => {
    const path = join(dir, 'f');
    expect(await fileStamp(path)).toBeUndefined();
    await writeFile(path, 'one');
    const first = await fileStamp(path);
    expect(first).toBeDefined();
    expect(await fileStamp(path)).toBe(first);
    await writeFile(join(dir, 'g'), 'two');
    await rename(join(dir, 'g'), path); // how an operator (or the kubelet) replaces a file
    expect(await fileStamp(path)).not.toBe(first);
  });

  it('follows a link to its target by default, and stamps the link itself on request', async () => {
    await writeFile(join(dir, 'a'), 'a');
    await writeFile(join(dir, 'b'), 'bb');
    const link = join(dir, 'token');
    await symlink(join(dir, 'a'), link);
    const viaLink = await fileStamp(link);
    const linkItself = await fileStamp(link, { followLinks: false });
    expect(viaLink).toBe(await fileStamp(join(dir, 'a')));
    expect(linkItself).not.toBe(viaLink);
    await rm(link);
    await symlink(join(dir, 'b'), link); // a Secret update swaps the link's target
    expect(await fileStamp(link)).not.toBe(viaLink);
  });
});
