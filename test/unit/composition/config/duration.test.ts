import { describe, expect, it } from 'vitest';
import { duration, fileMode, flag } from '#src/composition/config/duration.js';

describe('duration(min, max)', () => {
  const d = duration(100, 30_000);

  it('passes values inside the inclusive bounds', () => {
    expect(d.parse('100ms')).toBe(100);
    expect(d.parse('30s')).toBe(30_000);
  });

  it('reports unparsable and out-of-range values with distinct messages', () => {
    const bad = d.safeParse('soon');
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toBe('"soon" is not a duration (e.g. 500ms, 10s, 2m)');
    expect(d.safeParse('99ms').error?.issues[0]?.message).toBe('must be between 100ms and 30000ms');
    expect(d.safeParse('30001').error?.issues[0]?.message).toBe('must be between 100ms and 30000ms');
  });
});

describe('fileMode', () => {
  it.each<[string | number, number]>([
    ['0600', 0o600],
    ['600', 0o600],
    ['0777', 0o777],
    [0o640, 0o640],
    [0, 0],
  ])('%j → 0%s', (raw, mode) => {
    expect(fileMode.parse(raw)).toBe(mode);
  });

  it.each<string | number>(['0o600', '00600', '0800', '60', 'rwx', 0o1000, -1, 1.5])('%j is refused', (raw) => {
    expect(fileMode.safeParse(raw).success).toBe(false);
  });
});

describe('flag', () => {
  it.each<[unknown, boolean]>([
    [true, true],
    [false, false],
    ['true', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
  ])('%j → %s', (raw, value) => {
    expect(flag.parse(raw)).toBe(value);
  });

  it('refuses anything else', () => {
    expect(flag.safeParse('maybe').success).toBe(false);
    expect(flag.safeParse(1).success).toBe(false);
  });
});
