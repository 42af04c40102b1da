import { afterEach, beforeEach, vi } from 'vitest';

/**
 * Captures what the code under test writes to stdout and stderr, for each test of the
 * calling describe block; the spies are restored after each test.
 */
export function capturedOutput(): { readonly out: () => string; readonly err: () => string } {
  let out = '';
  let err = '';
  beforeEach(() => {
    out = '';
    err = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out += String(s);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      err += String(s);
      return true;
    });
  });
  afterEach(() => vi.restoreAllMocks());
  return { out: () => out, err: () => err };
}
