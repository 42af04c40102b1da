import { pino, type Logger as Pino } from 'pino';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { formatLogLine } from './text-format.js';

/**
 * SECURITY: nothing secret is ever handed to the logger (plaintext, key
 * material, PINs, tokens); these redactions are only a backstop for a field
 * that slips through, e.g. inside a library error.
 */
const REDACT_PATHS = [
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

/** `json`: one JSON object a line, as log collectors read it. `text`: for a person. `auto`: text on a terminal. */
type LogFormat = 'auto' | 'json' | 'text';

export interface LoggerOptions {
  readonly level: string;
  /** Where lines go; stdout by default (a static pod's logs). */
  readonly destination?: NodeJS.WritableStream;
  /** `auto` (the default) picks `text` when the destination is a terminal, else `json`. */
  readonly format?: LogFormat;
  /** Set when the environment asks for no colours (NO_COLOR, https://no-color.org/). */
  readonly noColor?: boolean;
}

/** The Logger port, plus what only the process's own lifecycle needs. */
export interface ProcessLogger extends Logger {
  /** The last line before the process exits because its state is unknown. */
  fatal(fields: Record<string, unknown>, message: string): void;
  /** Writes out buffered lines; `done` runs once they are written. */
  flush(done?: (err?: Error) => void): void;
}

/** Builds the pino logger and adapts it to the Logger port. */
export function createLogger(opts: LoggerOptions): ProcessLogger {
  const out = opts.destination ?? pino.destination({ dest: 1, sync: false });
  const tty = isTerminal(opts.destination ?? process.stdout);
  const text = (opts.format ?? 'auto') === 'auto' ? tty : opts.format === 'text';
  const p = pino(
    {
      level: opts.level,
      base: { app: 'kleidi' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    text ? textStream(out, tty && opts.noColor !== true) : out,
  );
  return adapt(p);
}

function isTerminal(stream: NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

/**
 * pino writes each JSON line (redactions already applied) to this stream,
 * which hands `out` the text form. `flush` reaches `out` so the last lines
 * before an exit are written either way.
 */
function textStream(
  out: { write(s: string): unknown },
  color: boolean,
): { write(line: string): void; flush(cb: () => void): void } {
  return {
    write: (line) => {
      out.write(formatLogLine(line, { color }));
    },
    flush: (cb) => {
      const f = (out as { flush?: (cb: () => void) => void }).flush;
      if (typeof f === 'function') f.call(out, cb);
      else cb();
    },
  };
}

function adapt(p: Pino): ProcessLogger {
  return {
    debug: (f, m) => p.debug(f, m),
    info: (f, m) => p.info(f, m),
    warn: (f, m) => p.warn(f, m),
    error: (f, m) => p.error(f, m),
    fatal: (f, m) => p.fatal(f, m),
    child: (f) => adapt(p.child(f)),
    flush: (done) => p.flush(done),
  };
}
