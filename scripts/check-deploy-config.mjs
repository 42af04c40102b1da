#!/usr/bin/env node
// Feeds the kleidi settings in every deployment artifact to kleidi's own
// config loader (dist/), so a manifest cannot use a setting, env var or value
// the schema refuses: the KLEIDI_* env of the static pods and DaemonSet, the
// systemd unit's Environment= lines, and each rendered Helm values set
// (ConfigMap config.yaml + the container env). Called by validate-deploy.sh
// with the directory the Go validator rendered the chart into.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigError, loadConfig } from '../dist/composition/config/load.js';

const repo = new URL('..', import.meta.url).pathname;
const rendered = process.argv[2];
const tmp = mkdtempSync(join(tmpdir(), 'kleidi-deploy-'));
let failures = 0;

/** Literal env of the kleidi container; $(POD_IP) stands for a node address. */
function containerEnv(spec) {
  const c = spec.containers.find((x) => x.name === 'kleidi');
  const env = {};
  for (const e of c?.env ?? []) {
    if (e.name.startsWith('KLEIDI_') && typeof e.value === 'string')
      env[e.name] = e.value.replace('$(POD_IP)', '10.0.0.10');
  }
  return env;
}

function check(label, env, configText) {
  let flags = {};
  if (configText !== undefined) {
    const file = join(tmp, 'config.yaml');
    writeFileSync(file, configText);
    flags = { config: file };
  }
  const { KLEIDI_CONFIG: _ignored, ...rest } = env;
  try {
    const cfg = loadConfig(flags, rest);
    // The loader may ignore (and only warn about) KLEIDI_* variables that are not settings: in a manifest that is a typo.
    const ignored = cfg.ignoredEnv ?? [];
    if (ignored.length > 0) throw new Error(`not settings, ignored by kleidi: ${ignored.join(', ')}`);
    console.log(`ok   ${label}: kleidi accepts it (backend ${cfg.backend}, http ${cfg.httpAddress || 'off'})`);
  } catch (err) {
    failures++;
    const why = err instanceof ConfigError ? err.problems.join('; ') : String(err);
    console.error(`FAIL ${label}: kleidi refuses its settings: ${why}`);
  }
}

function podSpecs(docs) {
  return docs.flatMap((d) => (d?.kind === 'Pod' ? [d.spec] : d?.kind === 'DaemonSet' ? [d.spec.template.spec] : []));
}

for (const rel of [
  'deploy/kubernetes/static-pod.yaml',
  'deploy/kubernetes/daemonset.yaml',
  'deploy/kind/kleidi-static-pod.yaml',
]) {
  const docs = parseAllDocuments(readFileSync(join(repo, rel), 'utf8')).map((d) => d.toJS());
  for (const spec of podSpecs(docs)) check(rel, containerEnv(spec));
}

const unit = readFileSync(join(repo, 'deploy/systemd/kleidi.service'), 'utf8');
const unitEnv = Object.fromEntries(
  [...unit.matchAll(/^Environment=(KLEIDI_[A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]),
);
check('deploy/systemd/kleidi.service', unitEnv);

if (rendered) {
  for (const f of readdirSync(rendered)
    .filter((n) => n.endsWith('.yaml'))
    .sort()) {
    const docs = parseAllDocuments(readFileSync(join(rendered, f), 'utf8')).map((d) => d.toJS());
    const configText = docs.find((d) => d?.kind === 'ConfigMap')?.data?.['config.yaml'];
    for (const spec of podSpecs(docs))
      check(`deploy/helm/kleidi (${f.replace(/\.yaml$/, '')})`, containerEnv(spec), configText);
  }
}
rmSync(tmp, { recursive: true, force: true });
if (failures > 0) {
  console.error(`check-deploy-config: ${failures} artifact(s) carry settings kleidi refuses`);
  process.exit(1);
}
