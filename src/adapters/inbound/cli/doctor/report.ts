/**
 * One finding of `kleidi doctor`. `skip` is a check that could not be made
 * here (a tool missing on this host, a command kleidi does not have yet): it
 * says so instead of passing or failing, and does not change the exit code.
 * `warn` is a state that works but wants an operator's step (a staged key
 * version waiting for its promotion); it does not change the exit code either.
 */
export interface DoctorCheck {
  /** Stable identifier for automation, e.g. `socket.exists`. */
  readonly id: string;
  readonly status: 'pass' | 'fail' | 'skip' | 'warn';
  /** One line: what was found. */
  readonly detail: string;
  /** For a failure or a warning: what to do about it, one line. */
  readonly fix?: string;
}

export const pass = (id: string, detail: string): DoctorCheck => ({ id, status: 'pass', detail });
export const fail = (id: string, detail: string, fix: string): DoctorCheck => ({ id, status: 'fail', detail, fix });
export const skip = (id: string, detail: string): DoctorCheck => ({ id, status: 'skip', detail });

const MARK = { pass: '✓', fail: '✗', skip: '–', warn: '!' } as const;

/** One line per check: mark, detail and, for a failure, the fix. */
export function renderText(checks: readonly DoctorCheck[]): string {
  const lines = checks.map(
    (c) => `${MARK[c.status]} ${c.detail}${c.fix ? ` — ${c.status === 'warn' ? 'next' : 'fix'}: ${c.fix}` : ''}`,
  );
  const failed = checks.filter((c) => c.status === 'fail').length;
  lines.push(failed === 0 ? 'all checks passed' : `${failed} check${failed === 1 ? '' : 's'} failed`);
  return `${lines.join('\n')}\n`;
}

export function renderJson(checks: readonly DoctorCheck[]): string {
  return `${JSON.stringify({ ok: exitCode(checks) === 0, checks })}\n`;
}

/** 0 only when no check failed; skipped checks are reported, not counted. */
export function exitCode(checks: readonly DoctorCheck[]): number {
  return checks.some((c) => c.status === 'fail') ? 1 : 0;
}
