/**
 * Node's system errors carry the errno name (`ENOENT`, `EACCES`, …) in
 * `code` (https://nodejs.org/api/errors.html#errorcode_1). These read it from
 * anything that was thrown, for the adapters that touch files; no backend.
 */

/** The errno name of `err`, or undefined when it is not a system error. */
export function errnoOf(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** Whether `err` is the system error `code`. */
export function isErrno(err: unknown, code: string): boolean {
  return errnoOf(err) === code;
}

/** The errno name for a message, or "unknown error". */
export function errnoText(err: unknown): string {
  return errnoOf(err) ?? 'unknown error';
}
