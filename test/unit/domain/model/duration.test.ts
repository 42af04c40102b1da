import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '#src/domain/model/duration.js';

describe('parseDuration', () => {
  it.each<[string | number, number]>([
    ['1s', 1_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1.5s', 1_500],
    ['250', 250], // a bare number is milliseconds
    [' 2s ', 2_000],
    ['3 s', 3_000],
    ['0', 0],
    [750, 750],
    [0, 0],
  ])('%j → %i ms', (raw, ms) => {
    expect(parseDuration(raw)).toBe(ms);
  });

  it.each<string | number>(['soon', '1d', '-1s', '', 's', '1s2', '1e3', '0x10', '1,5s', -1, Number.NaN, Infinity])(
    '%j is not a duration',
    (raw) => {
      expect(parseDuration(raw)).toBeUndefined();
    },
  );
});

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, '': 1 } as const;
const unit = fc.constantFrom(...(Object.keys(UNIT_MS) as (keyof typeof UNIT_MS)[]));
const space = fc.constantFrom('', ' ', '  ', '\t');

describe('parseDuration properties', () => {
  it('<number><unit> with any surrounding blanks is number × unit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 999 }),
        unit,
        space,
        space,
        space,
        (whole, frac, u, a, b, c) => {
          const text = frac === 0 ? `${whole}` : `${whole}.${String(frac).padStart(3, '0')}`;
          expect(parseDuration(`${a}${text}${b}${u}${c}`)).toBeCloseTo(Number(text) * UNIT_MS[u], 6);
        },
      ),
    );
  });

  it('never returns NaN, a negative or an infinite number, whatever the input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 20 }),
          fc.double(),
          fc.stringMatching(/^-?[0-9.e+]{1,8}(ms|s|m|h|d)?$/),
        ),
        (raw) => {
          const ms = parseDuration(raw);
          if (ms !== undefined) {
            expect(Number.isFinite(ms)).toBe(true);
            expect(ms).toBeGreaterThanOrEqual(0);
          }
        },
      ),
    );
  });
});
