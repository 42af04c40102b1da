#!/usr/bin/env node
// Regenerates the tested Kubernetes range in README.md and the version matrix in docs/testing.md
// from test/conformance/versions.json, the list of minors that scripts/test-matrix.mjs runs (all of
// them in `npm run test:matrix`, the first and the last in the full suite, scripts/test-all.sh), so
// the docs cannot claim a range that the tests do not run. Also checks that list: consecutive
// minors from 1.29 (KMSv2 GA, kleidi's oldest supported), one k8s.io/apiserver v0.<minor>.<patch>
// each, and the version test/conformance/go.mod pins (`npm run test:conformance`) among them.
// `npm run docs:gen` writes; `npm run docs:check` (CI) only compares and exits 1 on a difference.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withBlock } from './generated-block.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (file) => readFileSync(join(root, file), 'utf8');
const { minors } = JSON.parse(read('test/conformance/versions.json'));
const pinned = /^\s*k8s\.io\/apiserver (v\S+)/m.exec(read('test/conformance/go.mod'))?.[1];

const problems = [];
minors.forEach((m, i) => {
  const minor = 29 + i;
  if (m.kubernetes !== `1.${minor}`)
    problems.push(`test/conformance/versions.json: entry ${i} is ${m.kubernetes}, expected 1.${minor}`);
  if (!new RegExp(`^v0\\.${minor}\\.\\d+$`).test(m.apiserver))
    problems.push(
      `test/conformance/versions.json: Kubernetes ${m.kubernetes}: apiserver ${m.apiserver} is not v0.${minor}.<patch>`,
    );
});
if (!minors.some((m) => m.apiserver === pinned))
  problems.push(`test/conformance/go.mod pins k8s.io/apiserver ${pinned}, which the matrix does not list`);

const oldest = minors[0];
const newest = minors.at(-1);
// The real kube-apiserver builds of the end-to-end tests (scripts/setup-control-plane.sh, newest
// first; test/e2e/run.ts's default): the same patch releases as the matrix's ends, so the README's
// range is one claim.
const controlPlane =
  /^default_versions=\(([^)]*)\)/m.exec(read('scripts/setup-control-plane.sh'))?.[1]?.split(/\s+/) ?? [];
const e2eDefault = /opts\.versions \?\? '([^']+)'/.exec(read('test/e2e/run.ts'))?.[1];
// k8s.io/apiserver v0.Y.Z is released with Kubernetes 1.Y.Z.
const kubernetesOf = (apiserver) => apiserver.replace(/^v0/, '1');
const atPatch = (m) => kubernetesOf(m.apiserver);
if (controlPlane.join(',') !== `${atPatch(newest)},${atPatch(oldest)}`)
  problems.push(
    `scripts/setup-control-plane.sh builds kube-apiserver ${controlPlane.join(', ')}, not the matrix's newest and oldest (${atPatch(newest)}, ${atPatch(oldest)})`,
  );
if (e2eDefault !== controlPlane.join(','))
  problems.push(`test/e2e/run.ts defaults to ${e2eDefault}, setup-control-plane.sh to ${controlPlane.join(',')}`);
if (problems.length) {
  for (const p of problems) console.error(`docs-kubernetes: ${p}`);
  process.exit(1);
}
const anchor = 'docs/testing.md#every-kubernetes-minor-npm-run-testmatrix';

const readme = [
  `Tested with kube-apiserver's own KMSv2 client code (k8s.io/apiserver) of **Kubernetes ${oldest.kubernetes} to`,
  `${newest.kubernetes}**, the latest patch of each minor (${minors.map((m) => m.apiserver).join(', ')}): \`npm run test:matrix\``,
  `runs the conformance scenarios at every minor, the full test suite at ${oldest.kubernetes} and ${newest.kubernetes}, and each`,
  `backend's proof at ${kubernetesOf(pinned)} ([testing.md](${anchor})).`,
  `A real kube-apiserver and etcd store Secrets through kleidi at **${atPatch(oldest)} and ${atPatch(newest)}** in the`,
  `full test suite too (\`npm run test:e2e\` runs every end-to-end scenario,`,
  `[testing.md](docs/testing.md#end-to-end-real-kube-apiserver-and-etcd)).`,
].join('\n');

const testing = [
  'Generated from `test/conformance/versions.json` by `npm run docs:gen`; do not edit by hand.',
  '',
  '| Kubernetes | k8s.io/apiserver and k8s.io/kms | Full suite (`npm test`) | `npm run test:matrix` |',
  '|---|---|---|---|',
  ...minors.map((m) => {
    const full = m === oldest || m === newest ? 'yes' : m.apiserver === pinned ? 'yes, in each backend’s proof' : '';
    return `| ${m.kubernetes} | ${m.apiserver}${m.apiserver === pinned ? ' (pinned in go.mod)' : ''} | ${full} | yes |`;
  }),
].join('\n');

const check = process.argv.includes('--check');
let stale = 0;
for (const [file, id, body] of [
  ['README.md', 'kubernetes-versions', readme],
  ['docs/testing.md', 'kubernetes-versions', testing],
]) {
  const before = read(file);
  const after = withBlock(before, id, body, file);
  if (after === before) {
    if (!check) console.log(`${file}: tested Kubernetes versions are current`);
  } else if (check) {
    console.error(`${file} is out of date: run \`npm run docs:gen\` and commit the result`);
    stale++;
  } else {
    writeFileSync(join(root, file), after);
    console.log(`${file}: tested Kubernetes versions updated`);
  }
}
if (stale) process.exit(1);
