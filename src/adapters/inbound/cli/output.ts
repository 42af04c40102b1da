/**
 * The two faces of a command's answer on stdout: `json` for scripts and
 * probes (the objects kleidi has always printed), `text` for a person at a
 * terminal (short aligned tables). `auto` picks `text` only when stdout is a
 * terminal, so a pipe, a pod or an exec probe keeps getting JSON.
 */

type OutputFormat = 'json' | 'text';
export const OUTPUT_CHOICES = ['auto', 'json', 'text'] as const;

/** Where an answer is written and how it may be dressed. */
export interface Face {
  readonly format: OutputFormat;
  /** ANSI colours: only for a terminal, and never with NO_COLOR (https://no-color.org/). */
  readonly color: boolean;
}

export function chooseFace(
  setting: string | undefined,
  stream: { readonly isTTY?: boolean },
  env: Readonly<Record<string, string | undefined>>,
): Face {
  const tty = stream.isTTY === true;
  const format: OutputFormat = setting === 'json' || setting === 'text' ? setting : tty ? 'text' : 'json';
  return { format, color: format === 'text' && tty && (env.NO_COLOR ?? '') === '' };
}

// SGR parameters, ECMA-48 §8.3.117 (https://ecma-international.org/publications-and-standards/standards/ecma-48/).
const SGR = { red: '31', green: '32', yellow: '33', dim: '2', bold: '1' } as const;
export type Tone = keyof typeof SGR;

/** `s` in `tone` when colours are on; plain otherwise. */
export function paint(face: Face, tone: Tone, s: string): string {
  return face.color ? `\x1b[${SGR[tone]}m${s}\x1b[0m` : s;
}

/** A cell: its text, and optionally a tone. Width is measured on the text alone, so colours never misalign. */
export type Cell = string | { readonly text: string; readonly tone: Tone };

/** Left-aligned columns two spaces apart; a header row, when given, is bold. No trailing spaces. */
export function table(face: Face, rows: readonly (readonly Cell[])[], header?: readonly string[]): string {
  const all: readonly (readonly Cell[])[] = header ? [header, ...rows] : rows;
  const text = (c: Cell | undefined) => (c === undefined ? '' : typeof c === 'string' ? c : c.text);
  const cols = Math.max(0, ...all.map((r) => r.length));
  const widths = Array.from({ length: cols }, (_, i) => Math.max(0, ...all.map((r) => text(r[i]).length)));
  const lines = all.map((row, ri) => {
    const cells = row.map((c, i) => {
      const t = text(c);
      const pad = i === row.length - 1 ? '' : ' '.repeat((widths[i] ?? 0) - t.length);
      const tone: Tone | undefined = header && ri === 0 ? 'bold' : typeof c === 'string' ? undefined : c.tone;
      return `${tone ? paint(face, tone, t) : t}${pad}`;
    });
    return cells.join('  ').trimEnd();
  });
  return lines.map((l) => `${l}\n`).join('');
}

/** A two-column table of names and values; undefined values are left out. */
export function keyValues(face: Face, pairs: readonly (readonly [string, Cell | undefined])[]): string {
  const rows = pairs.filter((p): p is readonly [string, Cell] => p[1] !== undefined);
  return table(
    face,
    rows.map(([k, v]) => [{ text: k, tone: 'dim' }, v]),
  );
}
