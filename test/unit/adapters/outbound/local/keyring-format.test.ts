import { describe, expect, it } from 'vitest';
import {
  currentEntry,
  nextEntry,
  parseKeyringJson,
  serializeKeyring,
  stagedEntry,
  type Keyring,
} from '#src/adapters/outbound/local/keyring-format.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';
import { parseKeyringJson as parseAsOlderKleidi } from './fixtures/keyring-format-1.js';

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
    const text = JSON.stringify({ kind: 'kleidi-keyring', format: 3, keys: [key], newField: true });
    const parsing = () => parseKeyringJson(text, '/var/lib/kleidi/keyring.json');
    expect(parsing).toThrow(BackendMisconfiguredError);
    expect(parsing).toThrow(
      'keyring file /var/lib/kleidi/keyring.json has format 3, newer than this kleidi supports (format 2); upgrade kleidi',
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

const now = new Date('2026-12-06T00:00:00Z');
const live: Keyring = { entries: [nextEntry(undefined, now)] };
const withStaged: Keyring = { entries: [...live.entries, nextEntry(live, now, { staged: true })] };

describe('keyring format 2: a staged entry (ADR 0021)', () => {
  it('is written only while an entry is staged, and read back as staged', () => {
    expect(JSON.parse(serializeKeyring(live))).toMatchObject({ format: 1 });
    const doc = JSON.parse(serializeKeyring(withStaged)) as { format: number; keys: { state?: string }[] };
    expect(doc.format).toBe(2);
    expect(doc.keys.map((k) => k.state)).toEqual([undefined, 'staged']);
    const back = parseKeyringJson(serializeKeyring(withStaged), 'k');
    expect(back.entries.map((e) => [e.version, e.staged])).toEqual([
      [1, undefined],
      [2, true],
    ]);
    expect(currentEntry(back)?.version).toBe(1);
    expect(stagedEntry(back)?.version).toBe(2);
  });

  it('a promoted keyring (no staged entry) is format 1 again, whose newest entry is current', () => {
    const promoted: Keyring = { entries: withStaged.entries.map(({ staged: _s, ...e }) => e) };
    const text = serializeKeyring(promoted);
    expect(JSON.parse(text)).toMatchObject({ format: 1 });
    expect(currentEntry(parseKeyringJson(text, 'k'))?.version).toBe(2);
    // An older kleidi reads it too, with the same current entry.
    expect(parseAsOlderKleidi(text, 'k').entries.at(-1)?.version).toBe(2);
  });

  it('an older kleidi refuses a file with a staged entry ("upgrade kleidi") instead of taking it for current', () => {
    const text = serializeKeyring(withStaged);
    const older = () => parseAsOlderKleidi(text, '/var/lib/kleidi/keyring.json');
    expect(older).toThrow(BackendMisconfiguredError);
    expect(older).toThrow(
      'keyring file /var/lib/kleidi/keyring.json has format 2, newer than this kleidi supports (format 1); upgrade kleidi',
    );
    // The same entries in a format 1 file would be read with the staged entry as current: what format 2 prevents.
    const disguised = text.replace('"format": 2', '"format": 1').replace(/,\s*"state": "staged"/, '');
    expect(parseAsOlderKleidi(disguised, 'k').entries.at(-1)?.version).toBe(2);
  });

  it('an older format 1 file reads as before: every entry live, the newest current', () => {
    const text = JSON.stringify({
      kind: 'kleidi-keyring',
      format: 1,
      keys: [key, { ...key, version: 2, id: 'fedcba9876543210' }],
    });
    const k = parseKeyringJson(text, 'k');
    expect(stagedEntry(k)).toBeUndefined();
    expect(currentEntry(k)?.version).toBe(2);
  });

  const staged = { ...key, version: 2, id: 'fedcba9876543210', state: 'staged' };
  it.each([
    ['a state in a format 1 file', { format: 1, keys: [key, staged] }],
    ['an unknown state', { format: 2, keys: [key, { ...staged, state: 'retired' }] }],
    [
      'a staged entry that is not the newest',
      {
        format: 2,
        keys: [
          { ...staged, version: 1 },
          { ...key, version: 2 },
        ],
      },
    ],
    ['only a staged entry', { format: 2, keys: [{ ...staged, version: 1 }] }],
    ['format 2 without a staged entry', { format: 2, keys: [key] }],
    ['two staged entries', { format: 2, keys: [key, staged, { ...staged, version: 3, id: '00000000000000aa' }] }],
  ])('%s is corrupt', (_, doc) => {
    expect(() => parseKeyringJson(JSON.stringify({ kind: 'kleidi-keyring', ...doc }), 'k')).toThrow(
      /keyring file k is corrupt/,
    );
  });
});
