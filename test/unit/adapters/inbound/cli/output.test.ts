import { describe, expect, it } from 'vitest';
import {
  formatInit,
  formatKeys,
  formatPromote,
  formatRotate,
  formatStage,
} from '#src/adapters/inbound/cli/admin-commands.js';
import { formatVersion } from '#src/adapters/inbound/cli/cli.js';
import { formatStatus } from '#src/adapters/inbound/cli/diagnostics.js';
import { chooseFace, type Face, table } from '#src/adapters/inbound/cli/output.js';
import { parseKeyId } from '#src/domain/model/key-id.js';

const JSON_FACE: Face = { format: 'json', color: false };
const TEXT: Face = { format: 'text', color: false };
const COLOR: Face = { format: 'text', color: true };
const k1 = parseKeyId('local:v1:aaaa');
const k2 = parseKeyId('local:v2:bbbb');

describe('chooseFace', () => {
  it('prints tables only on a terminal unless told otherwise, and colours only on a terminal', () => {
    expect(chooseFace('auto', { isTTY: true }, {})).toEqual({ format: 'text', color: true });
    expect(chooseFace('auto', {}, {})).toEqual({ format: 'json', color: false });
    expect(chooseFace(undefined, { isTTY: false }, {})).toEqual({ format: 'json', color: false });
    expect(chooseFace('json', { isTTY: true }, {})).toEqual({ format: 'json', color: false });
    expect(chooseFace('text', {}, {})).toEqual({ format: 'text', color: false });
  });

  it('drops colours when NO_COLOR is set to anything but ""', () => {
    expect(chooseFace('auto', { isTTY: true }, { NO_COLOR: '1' })).toEqual({ format: 'text', color: false });
    expect(chooseFace('auto', { isTTY: true }, { NO_COLOR: '' })).toEqual({ format: 'text', color: true });
  });
});

describe('table', () => {
  it('aligns columns on the text, not on colour codes, with no trailing spaces', () => {
    const rows = [
      [{ text: 'ok', tone: 'green' as const }, 'x'],
      ['unhealthy', ''],
    ];
    expect(table(TEXT, rows)).toBe('ok         x\nunhealthy\n');
    expect(table(COLOR, rows)).toBe('\x1b[32mok\x1b[0m         x\nunhealthy\n');
  });
});

describe('the two faces of command output', () => {
  it('status: the JSON line as before, or a table with healthz first', () => {
    const s = { version: 'v2', healthz: 'ok', keyId: 'local:v1:aaaa' };
    expect(formatStatus(JSON_FACE, s)).toBe('{"version":"v2","healthz":"ok","keyId":"local:v1:aaaa"}\n');
    expect(formatStatus(TEXT, s)).toBe('healthz  ok\nkeyId    local:v1:aaaa\nversion  v2\n');
    expect(formatStatus(COLOR, { ...s, healthz: 'backend-unavailable: x' })).toContain(
      '\x1b[31mbackend-unavailable: x\x1b[0m',
    );
  });

  it('keys: the JSON document as before, or one row a version with the current one marked', () => {
    const keys = [
      { keyId: k1, version: 1, createdAt: '2026-01-01T00:00:00.000Z', current: false },
      { keyId: k2, version: 2, current: true, note: 'decrypt-only' },
    ];
    expect(formatKeys(JSON_FACE, 'local', keys)).toBe(`${JSON.stringify({ backend: 'local', keys }, null, 2)}\n`);
    expect(formatKeys(TEXT, 'local', keys)).toBe(
      [
        'backend local',
        'CURRENT  VERSION  KEY ID         CREATED                   NOTE',
        '         1        local:v1:aaaa  2026-01-01T00:00:00.000Z',
        '*        2        local:v2:bbbb  -                         decrypt-only',
        '',
      ].join('\n'),
    );
    expect(formatKeys(TEXT, 'vault', [])).toBe('backend vault: no key-encryption key yet (kleidi init creates one)\n');
  });

  it('init and rotate: the JSON documents as before, or a sentence and the current version', () => {
    const v = { keyId: k1, version: 1 };
    expect(formatInit(JSON_FACE, 'local', true, v)).toBe(
      `${JSON.stringify({ backend: 'local', created: true, current: v }, null, 2)}\n`,
    );
    expect(formatRotate(JSON_FACE, 'local', v)).toBe(
      `${JSON.stringify({ backend: 'local', rotated: true, current: v }, null, 2)}\n`,
    );
    expect(formatInit(TEXT, 'local', false, v)).toBe(
      'a key-encryption key already exists; nothing changed\nbackend  local\nversion  1\nkeyId    local:v1:aaaa\n',
    );
    expect(formatRotate(TEXT, 'local', v)).toMatch(
      /^rotated: .*\nbackend {2}local\nversion {2}1\nkeyId {4}local:v1:aaaa\n$/,
    );
  });

  it('rotate --stage and --promote: JSON documents, or a sentence, the version and the next step', () => {
    const v = { keyId: k2, version: 2 };
    expect(formatStage(JSON_FACE, 'local', v)).toBe(`${JSON.stringify({ backend: 'local', staged: v }, null, 2)}\n`);
    expect(formatStage(TEXT, 'local', v)).toBe(
      [
        'staged: the new key-encryption key decrypts here but is not current yet',
        'backend  local',
        'version  2',
        'keyId    local:v2:bbbb',
        'give every node this version (copy this keyring file to each node), then on each node: kleidi rotate --promote 2',
        '',
      ].join('\n'),
    );
    expect(formatPromote(JSON_FACE, 'pkcs11', v)).toBe(
      `${JSON.stringify({ backend: 'pkcs11', promoted: true, current: v }, null, 2)}\n`,
    );
    expect(formatPromote(TEXT, 'local', v)).toMatch(
      /^promoted: .*\nbackend {2}local\nversion {2}2\nkeyId {4}local:v2:bbbb\n$/,
    );
  });

  it('keys: a staged version is marked in the NOTE column, never as current', () => {
    const keys = [
      { keyId: k1, version: 1, current: true },
      { keyId: k2, version: 2, current: false, note: 'staged' },
    ];
    expect(formatKeys(TEXT, 'local', keys).split('\n').slice(1, 4)).toEqual([
      'CURRENT  VERSION  KEY ID         CREATED  NOTE',
      '*        1        local:v1:aaaa  -',
      '         2        local:v2:bbbb  -        staged',
    ]);
  });

  it('version: the JSON line as before, or a table', () => {
    const v = { kleidi: '1.2.3', node: 'v24.0.0', kmsApi: 'v2' };
    expect(formatVersion(JSON_FACE, v)).toBe('{"kleidi":"1.2.3","node":"v24.0.0","kmsApi":"v2"}\n');
    expect(formatVersion(TEXT, v)).toBe('kleidi  1.2.3\nnode    v24.0.0\nkmsApi  v2\n');
  });
});
