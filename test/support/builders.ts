import { randomBytes } from 'node:crypto';
import type { Logger } from '#src/ports/outbound/logger.port.js';

/** A fresh 32-byte data-key seed, as kube-apiserver sends in KDF mode. */
export function aDataKey(size = 32): Uint8Array {
  return new Uint8Array(randomBytes(size));
}

/** A signal that aborts after `ms` (generous: tests run on shared 2-core machines). */
export function aSignal(ms = 10_000): AbortSignal {
  return AbortSignal.timeout(ms);
}

export interface LogLine {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

/** A Logger that keeps every line, for asserting on what was (not) logged. */
export function recordingLogger(
  lines: LogLine[] = [],
  bound: Record<string, unknown> = {},
): Logger & { lines: LogLine[] } {
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => {
    lines.push({ level, fields: { ...bound, ...fields }, message });
  };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (fields) => recordingLogger(lines, { ...bound, ...fields }),
  };
}
