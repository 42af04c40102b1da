import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PrometheusMetrics } from '#src/adapters/outbound/prometheus/prometheus.metrics.js';

interface Panel {
  title?: string;
  targets?: Array<{ expr?: string }>;
  panels?: Panel[];
}

const dashboard = JSON.parse(
  readFileSync(new URL('../../../deploy/grafana/kleidi-dashboard.json', import.meta.url), 'utf8'),
) as {
  panels: Panel[];
  annotations: { list: Array<{ expr?: string }> };
};

/** Every metric family the exporter serves, with the series suffixes Prometheus derives for histograms. */
async function exportedNames(): Promise<Set<string>> {
  const m = new PrometheusMetrics({ version: 'test' });
  m.watchCredentialExpiry('vault', () => 1); // the token gauge only has a sample when a reader is set
  const names = new Set<string>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    // prom-client's typings say MetricType is a numeric enum; at runtime it is the string name.
    if (String(metric.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(metric.name + s);
  }
  return names;
}

function queries(panels: Panel[]): Array<[string, string]> {
  return panels.flatMap((p) => [
    ...(p.targets ?? []).map((t): [string, string] => [p.title ?? '', t.expr ?? '']),
    ...queries(p.panels ?? []),
  ]);
}

describe('deploy/grafana/kleidi-dashboard.json', () => {
  it('only queries metrics kleidi actually exports', async () => {
    const exported = await exportedNames();
    const all = [
      ...queries(dashboard.panels),
      ...dashboard.annotations.list.map((a): [string, string] => ['annotation', a.expr ?? '']),
    ];
    expect(all.length).toBeGreaterThan(10);
    for (const [title, expr] of all) {
      const used = [...expr.matchAll(/\b(?:kleidi|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0]);
      expect(used.length, `${title}: ${expr}`).toBeGreaterThan(0);
      for (const name of used) expect(exported.has(name), `${title} uses ${name}`).toBe(true);
    }
  });

  it('charts every kleidi metric family at least once', async () => {
    const text = JSON.stringify(dashboard);
    const own = [...(await exportedNames())].filter((n) => n.startsWith('kleidi_') && !/_(sum|count)$/.test(n));
    const families = new Set(own.map((n) => n.replace(/_bucket$/, '')));
    for (const f of families) {
      if (f === 'kleidi_build_info') continue; // used for the node picker
      expect(text, f).toMatch(new RegExp(`${f}(_bucket)?\\b`));
    }
  });
});
