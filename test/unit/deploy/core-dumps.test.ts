import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// kleidi's entry point (src/core-dumps.ts, imported first by src/main.ts) writes 0 to
// /proc/self/coredump_filter, so its cores hold no memory; a pod cannot set RLIMIT_CORE. These
// guards keep every shipped way of running kleidi on that entry point, and the systemd unit's limit.
const REPO = new URL('../../../', import.meta.url).pathname;
const read = (rel: string) => readFileSync(REPO + rel, 'utf8');

interface Container {
  name: string;
  command?: string[];
  args?: string[];
}

describe('core dumps in the shipped deployment artifacts', () => {
  it('deploy/systemd/kleidi.service: LimitCORE=0 and ExecStart runs dist/main.js', () => {
    const unit = read('deploy/systemd/kleidi.service');
    expect(unit).toMatch(/^LimitCORE=0$/m);
    expect(unit).toMatch(/^ExecStart=\S+\/node \/opt\/kleidi\/dist\/main\.js serve$/m);
  });

  for (const rel of [
    'deploy/kubernetes/static-pod.yaml',
    'deploy/kubernetes/daemonset.yaml',
    'deploy/kind/kleidi-static-pod.yaml',
  ]) {
    it(`${rel}: the kleidi container runs the image's entry point (no command override)`, () => {
      const docs = parseAllDocuments(read(rel)).map((d) => d.toJS()) as Array<{
        kind?: string;
        spec?: { containers?: Container[]; template?: { spec: { containers: Container[] } } };
      }>;
      const containers = docs.flatMap((d) =>
        d.kind === 'Pod'
          ? (d.spec?.containers ?? [])
          : d.kind === 'DaemonSet'
            ? (d.spec?.template?.spec.containers ?? [])
            : [],
      );
      const kleidi = containers.find((c) => c.name === 'kleidi');
      expect(kleidi?.args).toEqual(['serve']);
      expect(kleidi?.command).toBeUndefined();
    });
  }

  it('deploy/helm/kleidi: the kleidi container runs the image entry point', () => {
    const t = read('deploy/helm/kleidi/templates/daemonset.yaml');
    const kleidi = t.slice(t.indexOf('      containers:\n        - name: kleidi'));
    expect(kleidi).toContain('args: ["serve"]');
    expect(kleidi).not.toMatch(/^\s+command:/m);
  });

  it('deploy/Dockerfile: the entry point is dist/main.js', () => {
    expect(read('deploy/Dockerfile')).toMatch(
      /^ENTRYPOINT \["\/nodejs\/bin\/node", "\/opt\/kleidi\/dist\/main\.js"\]$/m,
    );
  });
});
