import { describe, expect, it } from 'vitest';
import { describeVersions, selectCurrent } from '#src/adapters/outbound/pkcs11/pkcs11.catalog.js';
import { kekKeyId, parseVersionId, type KekEntry } from '#src/adapters/outbound/pkcs11/pkcs11.keys.js';
import { ReconnectBackoff } from '#src/adapters/outbound/pkcs11/pkcs11.timing.js';
import { BackendUnavailableError } from '#src/domain/model/errors.js';
import { FakeClock } from '../../../../support/fake-clock.js';

const entry = (version: number, kcv: string, warnings: string[] = []): KekEntry => ({
  version,
  kcv,
  keyId: kekKeyId('kek', version, kcv),
  handle: Buffer.alloc(8),
  warnings,
});

describe('KEK version selection', () => {
  it('never picks a staged or retired version as current, and lists them with their note (ADR 0021)', () => {
    const all: KekEntry[] = [
      { ...entry(1, 'aa'), state: 'retired' },
      entry(2, 'bb'),
      { ...entry(3, 'cc'), state: 'staged' },
    ];
    const current = selectCurrent(all, 'kek');
    expect(current.keyId).toBe('pkcs11:kek:v2:bb');
    expect(describeVersions(all, current).map((k) => [k.version, k.current, k.note])).toEqual([
      [1, false, 'retired'],
      [2, true, undefined],
      [3, false, 'staged'],
    ]);
    expect(() => selectCurrent([{ ...entry(1, 'aa'), state: 'staged' }], 'kek')).toThrow(/staged or retired/);
    expect(() => selectCurrent(all, 'kek', 1)).toThrow(/pinned key version v1 of 'kek' is retired/);
  });

  it('picks the highest version, or the pinned one', () => {
    const all = [entry(1, 'aa'), entry(3, 'cc'), entry(2, 'bb')];
    expect(selectCurrent(all, 'kek').keyId).toBe('pkcs11:kek:v3:cc');
    expect(selectCurrent(all, 'kek', 2).keyId).toBe('pkcs11:kek:v2:bb');
    expect(() => selectCurrent(all, 'kek', 9)).toThrow(/pinned key version v9/);
    expect(() => selectCurrent([], 'kek')).toThrow(/run 'kleidi init' once/);
  });

  it('treats copies of one key as one key, and two different keys of one version as ambiguous', () => {
    expect(selectCurrent([entry(1, 'aa'), entry(1, 'aa')], 'kek').kcv).toBe('aa');
    expect(() => selectCurrent([entry(1, 'aa'), entry(1, 'bb')], 'kek')).toThrow(
      /2 different keys are labelled 'kek' v1/,
    );
  });

  it('lists versions with notes and never key material', () => {
    const all = [entry(1, 'aa', ['extractable']), entry(2, 'bb'), entry(2, 'bb')];
    expect(describeVersions(all, all[1])).toEqual([
      { keyId: 'pkcs11:kek:v1:aa', version: 1, current: false, note: 'decrypt-only; extractable' },
      { keyId: 'pkcs11:kek:v2:bb', version: 2, current: true },
    ]);
  });

  it('parses only v<N> CKA_IDs', () => {
    expect(parseVersionId(Buffer.from('v12'))).toBe(12);
    for (const bad of ['v0', 'v01', '12', 'v1 ', 'V1', 'v1234567890'])
      expect(parseVersionId(Buffer.from(bad))).toBeUndefined();
    expect(parseVersionId(null)).toBeUndefined();
  });
});

describe('reconnect backoff', () => {
  it('allows the first attempt at once, then doubles with jitter up to the cap, and resets on success', () => {
    const clock = new FakeClock(0);
    const b = new ReconnectBackoff(100, 1_000, clock);
    expect(() => b.check('token')).not.toThrow();
    const delays = Array.from({ length: 6 }, () => b.failed(new BackendUnavailableError('gone')));
    const bases = [100, 200, 400, 800, 1_000, 1_000];
    for (const [i, d] of delays.entries()) {
      expect(d / (bases[i] ?? 1)).toBeGreaterThanOrEqual(0.8);
      expect(d / (bases[i] ?? 1)).toBeLessThanOrEqual(1.2);
    }
    expect(() => b.check('token')).toThrow(/token is not usable \(gone\); next attempt in [12] s/);
    clock.advance(1_200);
    expect(() => b.check('token')).not.toThrow();
    b.succeeded();
    expect(b.failed(new BackendUnavailableError('again'))).toBeLessThanOrEqual(120);
  });
});
