import { describe, expect, it } from 'vitest';
import { parseKeyringJson, serializeKeyring } from '#src/adapters/outbound/local/keyring-format.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';

const key = {
  version: 1,
  id: '0123456789abcdef',
  createdAt: '2026-01-01T00:00:00.000Z',
  material: Buffer.alloc(32, 1).toString('base64'),
};

describe('parseKeyringJson: format versions', () => {
  it('reads what serializeKeyring writes', () => {
    const text = serializeKeyring(
      parseKeyringJson(JSON.stringify({ kind: 'kleidi-keyring', format: 1, keys: [key] }), 'k'),
    );
    expect(parseKeyringJson(text, 'k').entries.map((e) => e.id)).toEqual([key.id]);
  });

  it('a newer format says to upgrade kleidi, not that the file is corrupt or to restore a backup', () => {
    const text = JSON.stringify({ kind: 'kleidi-keyring', format: 2, keys: [key], newField: true });
    const parsing = () => parseKeyringJson(text, '/var/lib/kleidi/keyring.json');
    expect(parsing).toThrow(BackendMisconfiguredError);
    expect(parsing).toThrow(
      'keyring file /var/lib/kleidi/keyring.json has format 2, newer than this kleidi supports (format 1); upgrade kleidi',
    );
    expect(parsing).not.toThrow(/corrupt|backup/);
  });

  it.each([
    ['format 0', { kind: 'kleidi-keyring', format: 0, keys: [key] }],
    ['a format that is not an integer', { kind: 'kleidi-keyring', format: '2', keys: [key] }],
    ['another kind', { kind: 'something-else', format: 2, keys: [key] }],
  ])('%s is still corrupt', (_, doc) => {
    expect(() => parseKeyringJson(JSON.stringify(doc), 'k')).toThrow(/keyring file k is corrupt/);
  });
});
