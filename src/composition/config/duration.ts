import { z } from 'zod';
import { parseDuration } from '../../domain/model/duration.js';

/** A zod duration in milliseconds, bounded to [min, max]. */
export function duration(min: number, max: number) {
  return z.union([z.string(), z.number()]).transform((raw, ctx) => {
    const ms = parseDuration(raw);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${raw}" is not a duration (e.g. 500ms, 10s, 2m)` });
      return z.NEVER;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `must be between ${min}ms and ${max}ms` });
      return z.NEVER;
    }
    return ms;
  });
}

/** A file mode given as an octal string ("0660") or a number. */
export const fileMode = z.union([z.string(), z.number()]).transform((raw, ctx) => {
  const mode = typeof raw === 'number' ? raw : /^0?[0-7]{3}$/.test(raw) ? Number.parseInt(raw, 8) : Number.NaN;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    ctx.addIssue({ code: 'custom', message: `"${raw}" is not an octal file mode such as 0600` });
    return z.NEVER;
  }
  return mode;
});

/** Booleans from YAML, env ("true"/"1"/"yes") or flags. */
export const flag = z.union([z.boolean(), z.stringbool()]);
