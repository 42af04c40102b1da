import { lstat, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseKeyringJson } from '#src/adapters/outbound/local/keyring-format.js';
import { LocalKeyAdmin } from '#src/adapters/outbound/local/local.key-admin.js';
import { LocalKeyWrapper } from '#src/adapters/outbound/local/local.key-wrapper.js';
import { BackendMisconfiguredError, KeyVersionUnknownError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal, recordingLogger } from '../../../../support/builders.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function keyring(now = () => new Date('2026-12-06T01:02:03.456Z')) {
  const dir = await mkdtemp(join(tmpdir(), 'kleidi-retire-'));
  dirs.push(dir);
  const file = join(dir, 'keyring.json');
  const admin = new LocalKeyAdmin(file, recordingLogger(), { now });
  await admin.init(aSignal());
  return { dir, file, admin };
}

describe('local keyring: retire writes a backup first, then drops the version', () => {
  it('keeps the whole keyring, retired entry included, in a 0600 backup named in the result', async () => {
    const { dir, file, admin } = await keyring();
    const w = await LocalKeyWrapper.open(file, recordingLogger());
    const seed = aDataKey();
    const old = await w.wrap(seed, await w.currentVersion(aSignal()), aSignal());
    await admin.rotate(aSignal());
    const before = await readFile(file, 'utf8');

    const retired = await admin.retire(1, aSignal());
    expect(retired.action).toBe('removed from the keyring');
    expect(retired.backup).toBe(`${file}.retire-v1-20261206T010203Z.bak`);
    const backup = retired.backup as string;
    expect(await readFile(backup, 'utf8')).toBe(before);
    const st = await lstat(backup);
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(parseKeyringJson(await readFile(file, 'utf8'), file).entries.map((e) => e.version)).toEqual([2]);
    expect((await readdir(dir)).filter((n) => n.endsWith('.bak'))).toEqual([
      `keyring.json.retire-v1-20261206T010203Z.bak`,
    ]);

    // The running wrapper drops the version at its next refresh.
    await w.currentVersion(aSignal());
    await expect(w.unwrap(old, aSignal())).rejects.toBeInstanceOf(KeyVersionUnknownError);
    await w.close();
  });

  it('refuses a link planted at the backup path and leaves the keyring unchanged', async () => {
    const { dir, file, admin } = await keyring();
    await admin.rotate(aSignal());
    const before = await readFile(file, 'utf8');
    const target = join(dir, 'elsewhere');
    await symlink(target, `${file}.retire-v1-20261206T010203Z.bak`);
    await expect(admin.retire(1, aSignal())).rejects.toBeInstanceOf(BackendMisconfiguredError);
    await expect(lstat(target)).rejects.toThrow(/ENOENT/);
    expect(await readFile(file, 'utf8')).toBe(before);
  });
});
