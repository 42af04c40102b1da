import { composeKeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion } from '../../../domain/model/key-version.js';
import type { KeyringEntry } from './keyring-format.js';

/**
 * key_id of a local KEK: `local:v<version>:<random id>`. The random id makes
 * it unique even when a keyring is recreated (never reused, kmsv2 docs), and
 * it depends only on the file, so nodes sharing the file report the same id.
 */
export function localKeyVersion(entry: KeyringEntry): KeyVersion {
  return {
    keyId: composeKeyId('local', `v${entry.version}`, entry.id),
    version: entry.version,
    createdAt: entry.createdAt,
  };
}
