/**
 * The human face of a log line: what an operator reads on a terminal. pino
 * still builds the JSON line (with its redactions applied), and this turns
 * that line into `time LEVEL message key=value …`; a field whose value spans
 * several lines (the EncryptionConfiguration snippet) follows as a block,
 * verbatim and unindented after a `# name:` comment line and before a blank
 * line, so it can be copied as is (the comment is still valid YAML). Colours are ANSI SGR
 * codes, used only when the caller says the stream is a terminal.
 */

export interface TextFormatOptions {
  /** ANSI colours; only for a terminal. */
  readonly color: boolean;
}

/** Fields every line carries or that the layout already shows. */
const SHOWN_ELSEWHERE = new Set(['app', 'time', 'level', 'msg']);

// SGR parameters, ECMA-48 §8.3.117 (https://ecma-international.org/publications-and-standards/standards/ecma-48/).
const SGR = { red: '31', green: '32', yellow: '33', magenta: '35', cyan: '36', dim: '2', bold: '1' } as const;

const LEVEL_COLOR: Record<string, keyof typeof SGR> = {
  fatal: 'magenta',
  error: 'red',
  warn: 'yellow',
  info: 'green',
  debug: 'cyan',
  trace: 'dim',
};

/** Levels whose error stack is worth the lines it takes. */
const STACK_LEVELS = new Set(['error', 'fatal']);

/** One JSON log line (with or without its newline) as text, ending in a newline. */
export function formatLogLine(line: string, opts: TextFormatOptions): string {
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return `${line.trimEnd()}\n`;
  const paint = (code: keyof typeof SGR, s: string) => (opts.color ? `\x1b[${SGR[code]}m${s}\x1b[0m` : s);
  const r = rec as Record<string, unknown>;
  const level = typeof r.level === 'string' ? r.level : String(r.level ?? '');
  const head = [
    paint('dim', clock(r.time)),
    paint(LEVEL_COLOR[level] ?? 'bold', level.toUpperCase().padEnd(5)),
    typeof r.msg === 'string' ? r.msg : '',
  ];
  const inline: string[] = [];
  const blocks: string[] = [];
  for (const [key, value] of Object.entries(r)) {
    if (SHOWN_ELSEWHERE.has(key) || value === undefined) continue;
    if (typeof value === 'string' && value.includes('\n')) {
      blocks.push(`${paint('dim', `# ${key}:`)}\n${value.replace(/\n+$/, '')}\n\n`);
      continue;
    }
    if (isError(value)) {
      inline.push(`${paint('dim', `${key}=`)}${scalar(value.message)}`);
      if (STACK_LEVELS.has(level) && typeof value.stack === 'string') {
        blocks.push(`${value.stack.replace(/^/gm, '    ')}\n`);
      }
      continue;
    }
    inline.push(`${paint('dim', `${key}=`)}${scalar(value)}`);
  }
  const first = [...head, ...inline].filter((s) => s !== '').join(' ');
  return `${first}\n${blocks.join('')}`;
}

/** `HH:MM:SS.mmmZ` from pino's ISO time; the date is left to the terminal's scrollback. */
function clock(time: unknown): string {
  if (typeof time !== 'string') return '';
  const m = /T(\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:?\d\d)?$/.exec(time);
  return m ? `${m[1]}${m[2] ?? ''}` : time;
}

/** pino's error serializer (pino-std-serializers) writes `{ type, message, stack, … }`. */
function isError(v: unknown): v is { message: string; stack?: unknown } {
  return typeof v === 'object' && v !== null && 'message' in v && typeof v.message === 'string' && 'stack' in v;
}

/** A bare word when that reads unambiguously, JSON otherwise (quotes, spaces, objects). */
function scalar(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"'=]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v) ?? String(v);
}
