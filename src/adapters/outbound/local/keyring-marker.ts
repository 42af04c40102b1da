import { constants } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * A marker next to the keyring records that this state directory once held
 * one. `serve` creates a keyring on first start only; when the marker exists
 * but the keyring does not, the keyring was lost, and silently creating a new
 * one would make every object written before unreadable (and give this node
 * keys no other control-plane node has, kubernetes#66844).
 */
export function markerPath(keyringPath: string): string {
  return join(dirname(keyringPath), '.keyring-created');
}

export async function hasMarker(keyringPath: string): Promise<boolean> {
  return access(markerPath(keyringPath), constants.F_OK).then(
    () => true,
    () => false,
  );
}

export async function writeMarker(keyringPath: string): Promise<void> {
  const fh = await open(markerPath(keyringPath), 'w', 0o600);
  try {
    await fh.writeFile(`keyring created ${new Date().toISOString()}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
