import { open } from 'node:fs/promises';

/**
 * fsync of a directory, so that a file created or renamed in it survives a crash: syncing the file
 * does not sync the directory entry that names it (fsync(2), NOTES).
 */
export async function syncDirectory(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
