import { describe, expect, it } from 'vitest';
import {
  cryptoKeyName,
  gcpKeyId,
  parseCryptoKeyName,
  parseGcpKeyId,
  parseVersionName,
  versionName,
} from '#src/adapters/outbound/gcp/gcp-kms.key-id.js';
import type { KeyId } from '#src/domain/model/key-id.js';

const KEY = 'projects/my-project/locations/europe-west1/keyRings/kleidi/cryptoKeys/kek';

describe('gcp key names and key_ids', () => {
  it('parses a CryptoKey name and spells it back', () => {
    const ref = parseCryptoKeyName(KEY);
    expect(ref).toEqual({ project: 'my-project', location: 'europe-west1', ring: 'kleidi', key: 'kek' });
    expect(ref && cryptoKeyName(ref)).toBe(KEY);
  });

  it('refuses what is not a CryptoKey name', () => {
    for (const bad of [
      'kek',
      `${KEY}/cryptoKeyVersions/1`,
      'projects/p/locations/global/keyRings/r/cryptoKeys/k', // project ids are 6-30 characters
      'projects/my-project/locations/global/keyRings/r:x/cryptoKeys/k',
      'projects/my-project/locations/global/keyRings/r/cryptoKeys/',
      `projects/my-project/locations/global/keyRings/${'r'.repeat(64)}/cryptoKeys/k`,
    ]) {
      expect(parseCryptoKeyName(bad), bad).toBeUndefined();
    }
    expect(parseCryptoKeyName('projects/123456789012/locations/global/keyRings/r/cryptoKeys/k')).toBeDefined();
  });

  it('builds gcp:<project>:<location>:<ring>:<key>:<version> from a version name, and parses it back', () => {
    const v = parseVersionName(`${KEY}/cryptoKeyVersions/3`);
    expect(v).toBeDefined();
    if (!v) return;
    const id = gcpKeyId(v);
    expect(id).toBe('gcp:my-project:europe-west1:kleidi:kek:3');
    expect(parseGcpKeyId(id)).toEqual(v);
    expect(versionName(v)).toBe(`${KEY}/cryptoKeyVersions/3`);
  });

  it('refuses key_ids of other backends and malformed ones', () => {
    for (const bad of [
      'aws:aws:eu-west-1:111122223333:1234abcd-12ab-34cd-56ef-1234567890ab',
      'gcp:my-project:europe-west1:kleidi:kek',
      'gcp:my-project:europe-west1:kleidi:kek:0',
      'gcp:my-project:europe-west1:kleidi:kek:x',
      'gcp:my-project:europe-west1:kleidi:kek:3:4',
      'gcp:my/project:europe-west1:kleidi:kek:3',
    ]) {
      expect(parseGcpKeyId(bad as KeyId), bad).toBeUndefined();
    }
  });
});
