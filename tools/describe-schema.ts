import type { z } from 'zod';

/** One setting as the reference table shows it. */
export interface SettingDoc {
  readonly key: string;
  readonly type: string;
  /** As an operator writes it, e.g. `10s`, `0600`, `""`; undefined when there is none. */
  readonly default: string | undefined;
  readonly required: boolean;
  readonly description: string;
}

/** Field metadata set with `.meta()` in the schemas; `format` changes how types and defaults are shown. */
interface FieldMeta {
  readonly description?: string;
  readonly format?: 'duration' | 'file-mode';
}

type Node = z.core.$ZodType & { type?: string; description?: string; meta?: () => unknown };
type Def = {
  type: string;
  innerType?: Node;
  in?: Node;
  defaultValue?: unknown;
  options?: Node[];
  entries?: Record<string, unknown>;
  checks?: unknown[];
};
const defOf = (s: Node): Def => s._zod.def as unknown as Def;

/**
 * Describes each field of an object schema by walking zod's own definition:
 * defaults, optionality, enum values and number bounds come from the schema
 * that validates the config, so the reference cannot drift from it.
 * Transforms are documented by what the user writes (their input side).
 */
export function describeObject(shape: Readonly<Record<string, Node>>): SettingDoc[] {
  return Object.entries(shape).map(([key, field]) => describeField(key, field));
}

function describeField(key: string, field: Node): SettingDoc {
  let node = field;
  let meta: FieldMeta = {};
  let dflt: unknown;
  let hasDefault = false;
  let optional = false;
  for (;;) {
    meta = { ...(node.meta?.() as FieldMeta | undefined), ...meta };
    const d = defOf(node);
    if (d.type === 'default' && d.innerType) {
      [hasDefault, dflt, node] = [true, d.defaultValue, d.innerType];
    } else if (d.type === 'optional' && d.innerType) {
      [optional, node] = [true, d.innerType];
    } else if (d.type === 'pipe' && d.in) {
      node = d.in;
    } else break;
  }
  return {
    key,
    type: meta.format ? FORMAT_TYPE[meta.format] : typeOf(node),
    default: hasDefault ? showDefault(dflt, meta.format) : undefined,
    required: !hasDefault && !optional,
    description: meta.description ?? field.description ?? '',
  };
}

const FORMAT_TYPE = { duration: 'duration (`500ms`, `10s`, `2m`)', 'file-mode': 'octal file mode' } as const;

function typeOf(node: Node): string {
  const d = defOf(node);
  const n = node as Node & { format?: string | null; isInt?: boolean };
  switch (d.type) {
    case 'string':
      return n.format === 'url' ? 'URL' : 'string';
    case 'number': {
      const base = n.isInt ? 'integer' : 'number';
      const { lo, hi } = numberBounds(d, n.isInt === true);
      if (lo !== undefined && hi !== undefined)
        return /^-?\d/.test(lo) ? `${base} ${lo}–${hi}` : `${base} ${lo}, ${hi}`;
      return lo !== undefined ? `${base} ${lo}` : hi !== undefined ? `${base} ${hi}` : base;
    }
    case 'boolean':
      return 'boolean';
    case 'enum':
      return Object.values(d.entries ?? {})
        .map((v) => `\`${String(v)}\``)
        .join(' | ');
    case 'union': {
      const types = [...new Set((d.options ?? []).map(typeOf))];
      // z.union([z.boolean(), z.stringbool()]): a boolean that env and flags may spell as text.
      return types.includes('boolean') ? 'boolean' : types.join(' or ');
    }
    case 'pipe':
      return d.in ? typeOf(d.in) : 'string';
    default:
      return d.type;
  }
}

type BoundCheck = { check?: string; value?: unknown; inclusive?: boolean };

/**
 * Lower and upper bounds from the number's checks, as text: `1–64` style for a
 * range, `≥ 1` / `> 0.5` / `≤ 64` for one side. An exclusive bound on an
 * integer becomes the next integer (positive() → ≥ 1).
 */
function numberBounds(d: Def, isInt: boolean): { lo?: string; hi?: string } {
  const out: { lo?: string; hi?: string } = {};
  for (const c of d.checks ?? []) {
    const cd = (c as { _zod?: { def?: BoundCheck } })._zod?.def;
    if (typeof cd?.value !== 'number' || Math.abs(cd.value) >= Number.MAX_SAFE_INTEGER) continue;
    const v = cd.value;
    if (cd.check === 'greater_than') {
      out.lo = cd.inclusive ? `≥ ${v}` : isInt ? `≥ ${v + 1}` : `> ${v}`;
    } else if (cd.check === 'less_than') {
      out.hi = cd.inclusive ? `≤ ${v}` : isInt ? `≤ ${v - 1}` : `< ${v}`;
    }
  }
  if (out.lo?.startsWith('≥ ') && out.hi?.startsWith('≤ ')) return { lo: out.lo.slice(2), hi: out.hi.slice(2) };
  return out;
}

function showDefault(v: unknown, format: FieldMeta['format']): string {
  if (format === 'duration' && typeof v === 'number') return durationText(v);
  if (format === 'file-mode' && typeof v === 'number') return `0${v.toString(8)}`;
  if (v === '') return '""';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function durationText(ms: number): string {
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
