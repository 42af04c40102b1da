import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const REPO = new URL('../../../', import.meta.url).pathname;
const read = (rel: string) => readFileSync(REPO + rel, 'utf8');

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

interface Stage {
  base: string;
  name: string | undefined;
  body: Instruction[];
}

function stages(all: Instruction[]): Stage[] {
  const out: Stage[] = [];
  for (const i of all) {
    if (i.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      out.push({ base: m?.[1] ?? '', name: m?.[2], body: [] });
    } else out.at(-1)?.body.push(i);
  }
  return out;
}

const PINNED = /^[a-z0-9.-]+(?::\d+)?\/[a-z0-9._/-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$/;
const dockerfile = instructions(read('deploy/Dockerfile'));
const args = new Map(
  dockerfile
    .filter((i) => i.op === 'ARG' && i.args.includes('='))
    .map((i) => [i.args.slice(0, i.args.indexOf('=')), i.args.slice(i.args.indexOf('=') + 1)] as const),
);
const all = stages(dockerfile);
const final = all.at(-1);
const stage = (name: string) => all.find((s) => s.name === name);
// Dockerfile variable references, spelled as the Dockerfile spells them.
const FINAL_BASE = `runtime-\${VARIANT}`;
const RUNTIME_BASE = `\${RUNTIME_IMAGE}`;

describe('deploy/Dockerfile', () => {
  it('pins every base image by digest (<registry>/<repository>:<tag>@sha256:<64 hex>)', () => {
    const images = [...args].filter(([name]) => name.endsWith('_IMAGE'));
    expect(images.map(([name]) => name).sort()).toEqual(['BUILD_IMAGE', 'RUNTIME_IMAGE']);
    for (const [name, ref] of images) expect(ref, name).toMatch(PINNED);
    const names = new Set(all.map((s) => s.name));
    for (const s of all) {
      // A base is a pinned ARG, an earlier stage, or runtime-${VARIANT} (one of the stages).
      const arg = /^\$\{(\w+)\}$/.exec(s.base)?.[1];
      if (arg) expect(args.get(arg), s.base).toMatch(PINNED);
      else if (s.base === FINAL_BASE) for (const v of ['default', 'softhsm']) expect(names).toContain(`runtime-${v}`);
      else expect(names.has(s.base) || PINNED.test(s.base), `FROM ${s.base}`).toBe(true);
    }
  });

  it('runs the default variant on a distroless Node.js runtime with nothing run in it: no shell, apt or npm', () => {
    expect(args.get('VARIANT')).toBe('default');
    expect(stage('runtime-default')?.base).toBe(RUNTIME_BASE);
    expect(args.get('RUNTIME_IMAGE')).toMatch(/^gcr\.io\/distroless\/nodejs24-debian12:nonroot@/);
    // RUN needs a shell in the image; neither the runtime base nor the final stage may use one.
    expect(stage('runtime-default')?.body.filter((i) => i.op === 'RUN')).toEqual([]);
    expect(final?.body.filter((i) => i.op === 'RUN')).toEqual([]);
    expect(final?.base).toBe(FINAL_BASE);
  });

  it('removes npm from the softhsm variant and gives it the distroless node path the manifests name', () => {
    const run = stage('runtime-softhsm')?.body.find((i) => i.op === 'RUN')?.args ?? '';
    expect(run).toContain('rm -rf /usr/local/lib/node_modules/npm');
    expect(run).toContain('/usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack');
    expect(run).toContain('ln -s /usr/local/bin/node /nodejs/bin/node');
  });

  it('starts kleidi with node directly, as uid 65532, and ships the init script the manifests run', () => {
    const op = (name: string) => final?.body.filter((i) => i.op === name).map((i) => i.args) ?? [];
    expect(op('ENTRYPOINT')).toEqual(['["/nodejs/bin/node", "/opt/kleidi/dist/main.js"]']);
    expect(op('USER')).toEqual(['65532:65532']);
    expect(op('COPY')).toContain('--from=build --chown=0:0 /src/init ./init');
    expect(op('WORKDIR')).toEqual(['/opt/kleidi']);
    const build = stage('build')?.body ?? [];
    expect(build.map((i) => i.args)).toContain('deploy/image/prepare-host-dirs.mjs ./init/prepare-host-dirs.mjs');
  });

  it('copies from the build context only what Dockerfile.dockerignore lets in', () => {
    const allowed = read('deploy/Dockerfile.dockerignore')
      .split('\n')
      .filter((l) => l.startsWith('!'))
      .map((l) => l.slice(1).replace(/\/\*\*$/, ''));
    const sources = (stage('build')?.body ?? [])
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(5);
    for (const src of sources)
      expect(
        allowed.some((a) => src === a || src.startsWith(`${a}/`)),
        src,
      ).toBe(true);
  });
});

describe('init containers of the shipped manifests (the image has no shell)', () => {
  const SCRIPT = '/opt/kleidi/init/prepare-host-dirs.mjs';
  for (const rel of [
    'deploy/kubernetes/static-pod.yaml',
    'deploy/kubernetes/daemonset.yaml',
    'deploy/kind/kleidi-static-pod.yaml',
  ]) {
    it(`${rel}: runs ${SCRIPT} with the image's node`, () => {
      const docs = parseAllDocuments(read(rel)).map((d) => d.toJS()) as Array<{
        kind?: string;
        spec?: { initContainers?: Array<{ command?: string[] }>; template?: { spec: { initContainers?: [] } } };
      }>;
      const inits = docs.flatMap((d) =>
        d.kind === 'Pod'
          ? (d.spec?.initContainers ?? [])
          : d.kind === 'DaemonSet'
            ? (d.spec?.template?.spec.initContainers ?? [])
            : [],
      ) as Array<{ command?: string[] }>;
      expect(inits.length).toBeGreaterThan(0);
      for (const c of inits) expect(c.command?.slice(0, 2)).toEqual(['/nodejs/bin/node', SCRIPT]);
    });
  }

  it(`deploy/helm/kleidi: runs ${SCRIPT} with the image's node, never a shell`, () => {
    const t = read('deploy/helm/kleidi/templates/daemonset.yaml');
    expect(t).not.toMatch(/\/bin\/sh|\binstall -m\b/);
    expect(t).toContain(`- /nodejs/bin/node\n            - ${SCRIPT}`);
  });
});
