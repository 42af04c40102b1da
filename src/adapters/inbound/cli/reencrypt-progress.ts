import type { ReencryptProgress } from '../../../domain/model/reencrypt.js';

/** How `kleidi reencrypt` shows its progress on stderr. */
export interface ProgressView {
  show(p: ReencryptProgress): void;
  done(): void;
}

/** "1m05s", "42s": an ETA or an elapsed time. */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

/** The figures of one progress report: "secrets (1/2) 120/500, 25.0 objects/s, ETA 15s". */
function progressText(p: ReencryptProgress): string {
  const rate = p.elapsedMs > 0 ? (p.handled / p.elapsedMs) * 1000 : 0;
  const of = p.total === undefined ? `${p.position}` : `${p.position}/${p.total}`;
  const eta = p.total !== undefined && rate > 0 ? `, ETA ${duration((p.total - p.position) / rate)}` : '';
  const which = p.resourceCount > 1 ? ` (${p.resourceIndex}/${p.resourceCount})` : '';
  return `${p.resource}${which} ${of}, ${rate.toFixed(1)} objects/s${eta}`;
}

/** A bar on one terminal line, redrawn at most ten times a second; `columns` is the terminal's width. */
export function progressBar(write: (s: string) => void, columns: () => number, now = Date.now): ProgressView {
  let last = 0;
  let shown = false;
  return {
    show: (p) => {
      const t = now();
      if (t - last < 100 && p.position !== p.total) return;
      last = t;
      shown = true;
      const text = progressText(p);
      const width = Math.max(10, Math.min(40, columns() - text.length - 4));
      const filled = p.total ? Math.round((Math.min(p.position, p.total) / p.total) * width) : 0;
      const bar = p.total ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ` : '';
      write(`\r\x1b[K${bar}${text}`);
    },
    done: () => {
      if (shown) write('\r\x1b[K');
    },
  };
}

/** Not on a terminal (a Job's log): a line when a resource starts and then every `everyMs`. */
export function progressLines(write: (s: string) => void, everyMs = 10_000, now = Date.now): ProgressView {
  let next = 0;
  let resource = '';
  return {
    show: (p) => {
      const t = now();
      if (p.resource === resource && t < next) return;
      resource = p.resource;
      next = t + everyMs;
      write(`kleidi reencrypt: ${progressText(p)}\n`);
    },
    done: () => undefined,
  };
}
