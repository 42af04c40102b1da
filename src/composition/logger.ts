import { pino, type Logger as Pino } from 'pino';
import type { Logger } from '../ports/outbound/logger.port.js';

/**
 * SECURITY: nothing secret is ever handed to the logger (plaintext, key
 * material, PINs, tokens); these redactions are only a backstop for a field
 * that slips through, e.g. inside a library error.
 */
export const REDACT_PATHS = [
  'plaintext',
  '*.plaintext',
  'seed',
  '*.seed',
  'dataKey',
  '*.dataKey',
  'material',
  '*.material',
  'pin',
  '*.pin',
  'token',
  '*.token',
  'secretId',
  '*.secretId',
  'secret_id',
  '*.secret_id',
  'err.config',
  'err.request',
  'err.response.config',
  'err.options',
  '*.headers',
  'headers',
];

export interface LoggerOptions {
  readonly level: string;
  /** Where JSON lines go; stdout by default (a static pod's logs). */
  readonly destination?: NodeJS.WritableStream;
}

/** Builds the pino logger and adapts it to the Logger port. */
export function createLogger(opts: LoggerOptions): Logger & { flush(): void } {
  const p = pino(
    {
      level: opts.level,
      base: { app: 'kleidi' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
  return adapt(p);
}

function adapt(p: Pino): Logger & { flush(): void } {
  return {
    debug: (f, m) => p.debug(f, m),
    info: (f, m) => p.info(f, m),
    warn: (f, m) => p.warn(f, m),
    error: (f, m) => p.error(f, m),
    child: (f) => adapt(p.child(f)),
    flush: () => p.flush(),
  };
}
