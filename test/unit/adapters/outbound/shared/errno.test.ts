import { describe, expect, it } from 'vitest';
import { errnoOf, errnoText, isErrno } from '#src/adapters/outbound/shared/errno.js';

describe('errno helpers', () => {
  const enoent = Object.assign(new Error('no such file'), { code: 'ENOENT', errno: -2 });

  it('read the errno name Node puts on a system error', () => {
    expect(errnoOf(enoent)).toBe('ENOENT');
    expect(isErrno(enoent, 'ENOENT')).toBe(true);
    expect(isErrno(enoent, 'EACCES')).toBe(false);
    expect(errnoText(enoent)).toBe('ENOENT');
  });

  it('treat anything else as no errno', () => {
    for (const thrown of [new Error('plain'), { code: 2 }, 'ENOENT', undefined, null]) {
      expect(errnoOf(thrown)).toBeUndefined();
      expect(isErrno(thrown, 'ENOENT')).toBe(false);
      expect(errnoText(thrown)).toBe('unknown error');
    }
  });
});
