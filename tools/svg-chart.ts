// A small SVG writer for grouped bar charts, with no dependency: the benchmark's charts
// (tools/bench-charts.ts) are checked in next to docs/benchmarks.md and compared byte for byte by
// `npm run docs:check`, so the output must be a pure function of the figures (fixed number
// formatting, no timestamps, no random ids).
//
// Accessibility follows the SVG pattern of the W3C's WAI tutorial on complex images
// (https://www.w3.org/WAI/tutorials/images/complex/) and the ARIA graphics role mapping
// (https://www.w3.org/TR/graphics-aria-1.0/#role_map): role="img", a <title> and a <desc> named by
// aria-labelledby, the desc holding every plotted value as text, and a <title> on each bar.

export interface Category {
  /** The tick label under the bars, e.g. `16`. */
  readonly label: string;
  /** Consecutive categories with the same group share a second label line, e.g. `Decrypt`. */
  readonly group?: string;
}

export interface Series {
  readonly name: string;
  /** One value per category; `undefined` leaves a gap (not measured). */
  readonly values: readonly (number | undefined)[];
}

export interface BarChart {
  /** Names the file's ids, so two charts inlined in one page cannot clash. */
  readonly id: string;
  readonly title: string;
  /** One or two sentences on what is plotted; the values are appended by the writer. */
  readonly description: string;
  /** The x axis label. */
  readonly xLabel: string;
  /** The y axis label, with its unit, e.g. `throughput (operations/s)`. */
  readonly yLabel: string;
  /** The unit a value is read in, for the bar titles and the description, e.g. `ops/s`. */
  readonly unit: string;
  readonly categories: readonly Category[];
  readonly series: readonly Series[];
  /** Decimals of the value labels; the axis ticks use as many as their step needs. */
  readonly decimals: number;
}

/**
 * The Okabe–Ito palette, distinguishable with the common colour-vision deficiencies
 * (https://jfly.uni-koeln.de/color/#pallet); first the colours that also keep apart in grey.
 */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442'] as const;

const WIDTH = 760;
const HEIGHT = 400;
const MARGIN = { top: 48, right: 16, bottom: 84, left: 72 } as const;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

/** XML text and attribute escaping. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Coordinates with one decimal: enough for a screen, and stable across platforms. */
const px = (x: number): string => {
  const r = Math.round(x * 10) / 10;
  return Object.is(r, -0) ? '0' : String(r);
};

/**
 * A "nice" axis: the smallest step of 1, 2 or 5 × 10^k that covers `max` in at most `maxTicks`
 * intervals, and the top of the axis as a multiple of it.
 */
export function niceAxis(max: number, maxTicks = 6): { step: number; top: number; ticks: number[] } {
  if (!(max > 0) || !Number.isFinite(max)) return { step: 1, top: 1, ticks: [0, 1] };
  const raw = max / maxTicks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const top = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; i * step <= top + step / 1e6; i++) ticks.push(roundTo(i * step, step));
  return { step, top, ticks };
}

/** `x` without float noise, to the precision `step` needs. */
function roundTo(x: number, step: number): number {
  const d = decimalsOf(step);
  return Number(x.toFixed(d));
}

function decimalsOf(step: number): number {
  return step >= 1 ? 0 : Math.min(10, Math.ceil(-Math.log10(step) - 1e-9));
}

/** Thousands separated by a thin space, as the SI brochure recommends (https://www.bipm.org/en/publications/si-brochure, 5.4.4). */
export function formatNumber(x: number, decimals: number): string {
  const [int = '', frac] = Math.abs(x).toFixed(decimals).split('.');
  const grouped = int.length > 4 ? int.replace(/\B(?=(\d{3})+(?!\d))/g, '\u2009') : int;
  return `${x < 0 ? '−' : ''}${grouped}${frac ? `.${frac}` : ''}`;
}

/** The chart's data as sentences, for the <desc> a screen reader reads. */
export function describeData(chart: BarChart): string {
  const lines = chart.series.map((s) => {
    const parts = chart.categories.map((c, i) => {
      const v = s.values[i];
      const where = c.group ? `${c.group} ${c.label}` : c.label;
      return `${where}: ${v === undefined ? 'not measured' : `${formatNumber(v, chart.decimals)} ${chart.unit}`}`;
    });
    return `${s.name}: ${parts.join('; ')}.`;
  });
  return [chart.description, ...lines].join(' ');
}

/** The SVG document of a grouped bar chart: one group of bars per category, one bar per series. */
export function barChart(chart: BarChart): string {
  if (chart.series.length === 0 || chart.categories.length === 0) throw new Error(`${chart.id}: nothing to plot`);
  if (chart.series.length > PALETTE.length) throw new Error(`${chart.id}: more series than colours`);
  for (const s of chart.series)
    if (s.values.length !== chart.categories.length)
      throw new Error(
        `${chart.id}: series ${s.name} has ${s.values.length} values for ${chart.categories.length} categories`,
      );
  const values = chart.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  if (values.some((v) => !Number.isFinite(v) || v < 0)) throw new Error(`${chart.id}: values must be finite and ≥ 0`);
  const axis = niceAxis(Math.max(0, ...values));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x0 = MARGIN.left;
  const y0 = MARGIN.top + plotH;
  const y = (v: number): number => y0 - (v / axis.top) * plotH;
  const slot = plotW / chart.categories.length;
  const bar = Math.min(28, (slot * 0.8) / chart.series.length);
  const id = (s: string): string => `${chart.id}-${s}`;
  const tickDecimals = decimalsOf(axis.step);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="${id('title')} ${id('desc')}">`,
    `<title id="${id('title')}">${escapeXml(chart.title)}</title>`,
    `<desc id="${id('desc')}">${escapeXml(describeData(chart))}</desc>`,
    // An opaque background: the page may be shown on a dark theme, the text is dark.
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${px(WIDTH / 2)}" y="24" text-anchor="middle" font-size="16" font-weight="600" fill="#1f2328" ${FONT}>${escapeXml(chart.title)}</text>`,
  );
  // Grid lines and y ticks.
  out.push(`<g font-size="11" fill="#57606a" ${FONT}>`);
  for (const t of axis.ticks) {
    const ty = y(t);
    out.push(
      `<line x1="${px(x0)}" y1="${px(ty)}" x2="${px(x0 + plotW)}" y2="${px(ty)}" stroke="${t === 0 ? '#57606a' : '#d0d7de'}" stroke-width="1"/>`,
      `<text x="${px(x0 - 6)}" y="${px(ty + 4)}" text-anchor="end">${formatNumber(t, tickDecimals)}</text>`,
    );
  }
  out.push('</g>');
  // Bars, each with its value above it and a title.
  out.push(`<g font-size="10" fill="#1f2328" ${FONT}>`);
  chart.categories.forEach((c, ci) => {
    const left = x0 + ci * slot + (slot - bar * chart.series.length) / 2;
    chart.series.forEach((s, si) => {
      const v = s.values[ci];
      if (v === undefined) return;
      const bx = left + si * bar;
      const by = y(v);
      const where = c.group ? `${c.group}, ${c.label}` : c.label;
      out.push(
        `<rect x="${px(bx + 1)}" y="${px(by)}" width="${px(bar - 2)}" height="${px(y0 - by)}" fill="${PALETTE[si]}"><title>${escapeXml(`${s.name}, ${where}: ${formatNumber(v, chart.decimals)} ${chart.unit}`)}</title></rect>`,
        `<text x="${px(bx + bar / 2)}" y="${px(by - 3)}" text-anchor="middle" font-size="${bar < 22 ? 8 : 10}">${formatNumber(v, chart.decimals)}</text>`,
      );
    });
  });
  out.push('</g>');
  // Category labels, then group labels under runs of categories with the same group.
  out.push(`<g font-size="12" fill="#1f2328" text-anchor="middle" ${FONT}>`);
  chart.categories.forEach((c, ci) => {
    out.push(`<text x="${px(x0 + (ci + 0.5) * slot)}" y="${px(y0 + 16)}">${escapeXml(c.label)}</text>`);
  });
  for (let start = 0; start < chart.categories.length; ) {
    const group = chart.categories[start]?.group;
    let end = start;
    while (end + 1 < chart.categories.length && chart.categories[end + 1]?.group === group) end++;
    if (group !== undefined) {
      out.push(
        `<text x="${px(x0 + ((start + end + 1) / 2) * slot)}" y="${px(y0 + 32)}" font-weight="600">${escapeXml(group)}</text>`,
      );
      if (start > 0)
        out.push(
          `<line x1="${px(x0 + start * slot)}" y1="${px(MARGIN.top)}" x2="${px(x0 + start * slot)}" y2="${px(y0 + 36)}" stroke="#8c959f" stroke-width="1" stroke-dasharray="3 3"/>`,
        );
    }
    start = end + 1;
  }
  out.push('</g>');
  // Axis labels.
  out.push(
    `<text x="${px(x0 + plotW / 2)}" y="${px(y0 + 52)}" text-anchor="middle" font-size="12" fill="#1f2328" ${FONT}>${escapeXml(chart.xLabel)}</text>`,
    `<text transform="translate(16 ${px(MARGIN.top + plotH / 2)}) rotate(-90)" text-anchor="middle" font-size="12" fill="#1f2328" ${FONT}>${escapeXml(chart.yLabel)}</text>`,
  );
  // Legend, in a row under the axis label.
  out.push(`<g font-size="12" fill="#1f2328" ${FONT}>`);
  const legendW = chart.series.reduce((w, s) => w + 24 + s.name.length * 7 + 16, 0);
  let lx = x0 + Math.max(0, (plotW - legendW) / 2);
  const ly = HEIGHT - 14;
  chart.series.forEach((s, si) => {
    out.push(
      `<rect x="${px(lx)}" y="${px(ly - 10)}" width="14" height="12" fill="${PALETTE[si]}"/>`,
      `<text x="${px(lx + 20)}" y="${px(ly)}">${escapeXml(s.name)}</text>`,
    );
    lx += 24 + s.name.length * 7 + 16;
  });
  out.push('</g>', '</svg>', '');
  return out.join('\n');
}
