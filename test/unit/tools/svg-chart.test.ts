import { describe, expect, it } from 'vitest';
import { type BarChart, barChart, escapeXml, formatNumber, niceAxis, PALETTE } from '../../../tools/svg-chart.js';

const chart: BarChart = {
  id: 'demo',
  title: 'Throughput <by> callers & "targets"',
  description: 'Operations per second.',
  xLabel: 'callers',
  yLabel: 'throughput (operations/s)',
  unit: 'ops/s',
  decimals: 0,
  categories: [
    { label: '1', group: 'Encrypt' },
    { label: '16', group: 'Encrypt' },
    { label: '1', group: 'Decrypt' },
    { label: '16', group: 'Decrypt' },
  ],
  series: [
    { name: 'kleidi', values: [3589, 9611, 4684, 12863] },
    { name: 'go-reference', values: [6132, 24238, undefined, 31466] },
  ],
};

/** Tags open and close in order (a well-formedness check without an XML parser). */
function balanced(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, close, name, selfClosing] = m;
    if (selfClosing) continue;
    if (close) {
      if (stack.pop() !== name) return false;
    } else stack.push(name as string);
  }
  return stack.length === 0;
}

describe('niceAxis', () => {
  it('picks a 1-2-5 step and a top that covers the largest value', () => {
    expect(niceAxis(9611)).toEqual({ step: 2000, top: 10000, ticks: [0, 2000, 4000, 6000, 8000, 10000] });
    expect(niceAxis(31466)).toMatchObject({ step: 10000, top: 40000 });
    expect(niceAxis(100)).toMatchObject({ step: 20, top: 100 });
  });

  it('gives ticks without floating-point noise below 1', () => {
    expect(niceAxis(0.46).ticks).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5]);
  });

  it('draws an empty axis from 0 to 1 when there is nothing above 0', () => {
    expect(niceAxis(0)).toEqual({ step: 1, top: 1, ticks: [0, 1] });
  });
});

describe('formatNumber', () => {
  it('groups thousands with a thin space from five digits, and keeps the decimals asked for', () => {
    expect(formatNumber(31466, 0)).toBe('31\u2009466');
    expect(formatNumber(3589, 0)).toBe('3589');
    expect(formatNumber(1234567.891, 2)).toBe('1\u2009234\u2009567.89');
    expect(formatNumber(0.5, 2)).toBe('0.50');
  });
});

describe('barChart', () => {
  const svg = barChart(chart);

  it('is a well-formed, accessible image: role, title and description named by aria-labelledby', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(balanced(svg)).toBe(true);
    expect(svg).toContain('role="img" aria-labelledby="demo-title demo-desc"');
    expect(svg).toContain(`<title id="demo-title">${escapeXml(chart.title)}</title>`);
    expect(svg).toMatch(/<desc id="demo-desc">Operations per second\. kleidi: Encrypt 1: 3589 ops\/s;/);
  });

  it('escapes text, so a name with markup cannot break the document', () => {
    expect(svg).toContain('Throughput &lt;by&gt; callers &amp; &quot;targets&quot;');
    expect(svg).not.toContain('<by>');
  });

  it('labels both axes with their units, the categories, the groups and the legend', () => {
    expect(svg).toContain('>throughput (operations/s)</text>');
    expect(svg).toContain('>callers</text>');
    expect(svg.match(/>Encrypt<\/text>/g)).toHaveLength(1);
    expect(svg.match(/>Decrypt<\/text>/g)).toHaveLength(1);
    expect(svg).toContain('>go-reference</text>');
  });

  it('draws one titled bar per measured value, in its series colour, and none for a gap', () => {
    const bars = [...svg.matchAll(/<rect [^>]*fill="(#[0-9A-F]{6})"><title>([^<]+)<\/title><\/rect>/g)];
    expect(bars).toHaveLength(7);
    expect(bars.filter((b) => b[1] === PALETTE[0])).toHaveLength(4);
    expect(bars.map((b) => b[2])).toContain('go-reference, Decrypt, 16: 31\u2009466 ops/s');
    expect(svg).toContain(
      'go-reference: Encrypt 1: 6132 ops/s; Encrypt 16: 24\u2009238 ops/s; Decrypt 1: not measured;',
    );
  });

  it('scales bar heights to the axis: the largest value reaches its share of the top tick', () => {
    const heights = [...svg.matchAll(/<rect [^>]*height="([\d.]+)" fill="#[0-9A-F]{6}"><title>/g)].map((m) =>
      Number(m[1]),
    );
    const tallest = Math.max(...heights);
    const shortest = Math.min(...heights);
    // 31 466 of a 40 000 axis and 3589 of it: the ratio survives rounding to a tenth of a pixel.
    expect(tallest / shortest).toBeCloseTo(31466 / 3589, 1);
  });

  it('is a pure function of its input (the check compares files byte for byte)', () => {
    expect(barChart(structuredClone(chart))).toBe(svg);
  });

  it('refuses data it cannot draw honestly', () => {
    expect(() => barChart({ ...chart, series: [{ name: 'x', values: [1, 2] }] })).toThrow(/2 values for 4 categories/);
    expect(() => barChart({ ...chart, series: [{ name: 'x', values: [1, -2, 3, 4] }] })).toThrow(/≥ 0/);
    expect(() => barChart({ ...chart, series: [] })).toThrow(/nothing to plot/);
  });
});
