import { constants } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { errnoText } from '../shared/errno.js';
import { giveTo, keyringOwner, type KeyringActor, type ReadKeyring } from './keyring-file.js';
import { serializeKeyring } from './keyring-format.js';
import { syncDirectory } from '../shared/sync-dir.js';

/**
 * Writes the keyring as it is before `kleidi retire` drops `version` from it,
 * next to the keyring: `keyring.json.retire-v<N>-<UTC time>.bak`. It holds
 * KEKs in the clear, so it is made like the keyring itself (keyring-file.ts):
 * created O_CREAT|O_EXCL|O_NOFOLLOW with mode 0600 (never through a link,
 * never over an existing file), given to the keyring's owner and group on its
 * descriptor, synced with its directory before the keyring is rewritten. The
 * operator moves it off the node (docs/backends/local.md); kleidi never reads it.
 */
export async function writeRetireBackup(
  path: string,
  before: ReadKeyring,
  version: number,
  actor: KeyringActor,
  now: Date,
): Promise<string> {
  const owner = await keyringOwner(path, actor);
  if (owner === undefined)
    throw new BackendMisconfiguredError(`cannot write a keyring backup: ${dirname(path)} is gone`);
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const backup = `${path}.retire-v${version}-${stamp}.bak`;
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(backup, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw new BackendMisconfiguredError(`cannot create the keyring backup ${backup}: ${errnoText(err)}`, {
      cause: err,
    });
  }
  try {
    await giveTo(fh, owner, before.gid, backup);
    await fh.writeFile(serializeKeyring(before.keyring));
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(backup).catch(() => undefined);
    if (err instanceof BackendMisconfiguredError) throw err;
    throw new BackendMisconfiguredError(`cannot write the keyring backup ${backup}: ${errnoText(err)}`, {
      cause: err,
    });
  }
  await fh.close();
  await syncDirectory(dirname(path));
  return backup;
}
