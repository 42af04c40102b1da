import type { Command } from 'commander';
import type { BackendDefinition } from '#src/composition/backends/backend.js';
import { backends } from '#src/composition/backends/index.js';
import { BaseConfigSchema, backendSetting } from '#src/composition/config/schema.js';
import { describeObject, type SettingDoc } from './describe-schema.js';

/** docs/configuration.md holds the generated reference between these markers (`npm run docs:config`). */
export const BEGIN_MARKER = '<!-- BEGIN GENERATED: settings -->';
export const END_MARKER = '<!-- END GENERATED -->';

const upperSnake = (name: string) => name.replace(/([A-Z])/g, '_$1').toUpperCase();
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/**
 * The settings reference, generated from the zod schemas that validate the
 * config and from the `serve` command's flags, so the documentation cannot
 * drift from the code. `serve` is the commander command that owns the flags;
 * `registry` the backends to document (kleidi's own unless a test passes others).
 */
export function settingsReference(serve: Command, registry: readonly BackendDefinition[] = backends): string {
  const flags = new Map(serve.options.map((o) => [o.attributeName(), o.long ?? '']));
  const out = [
    'Generated from the configuration schema by `npm run docs:config`; do not edit by hand.',
    'Precedence: flags > `KLEIDI_*` environment variables > the YAML file (`--config`, env `KLEIDI_CONFIG`) > defaults.',
    '',
    '### Shared settings',
    '',
    ...table(
      describeObject({ ...BaseConfigSchema.shape, backend: backendSetting(registry) }),
      (k) => k,
      (k) => `KLEIDI_${upperSnake(k)}`,
      (k) => flags.get(k),
    ),
  ];
  for (const b of registry) {
    const shape = (b.schema as unknown as { shape?: Parameters<typeof describeObject>[0] }).shape;
    if (!shape) continue;
    out.push('', `### Backend \`${b.name}\` (YAML section \`${b.section}\`)`, '');
    out.push(
      ...table(
        describeObject(shape),
        (k) => `${b.section}.${k}`,
        (k) => `KLEIDI_${upperSnake(b.section)}_${upperSnake(k)}`,
        () => undefined,
      ),
    );
  }
  const secrets = registry.flatMap((b) => (b.secretEnv ?? []).map((name) => [name, b.name] as const));
  out.push('', '### Environment variables that are not settings', '', '| Variable | Meaning |', '|---|---|');
  out.push('| `KLEIDI_CONFIG` | path of the YAML config file (same as `--config`) |');
  for (const [name, backend] of secrets)
    out.push(`| \`${name}\` | a secret the \`${backend}\` backend reads itself; never logged, never a flag |`);
  return out.join('\n');
}

function table(
  rows: readonly SettingDoc[],
  yaml: (k: string) => string,
  env: (k: string) => string,
  flag: (k: string) => string | undefined,
): string[] {
  const lines = ['| Setting (YAML) | Environment | Flag | Type | Default | Description |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    const f = flag(r.key);
    const dflt = r.default !== undefined ? `\`${r.default}\`` : r.required ? '**required**' : '(unset)';
    lines.push(
      `| \`${yaml(r.key)}\` | \`${env(r.key)}\` | ${f ? `\`${f}\`` : '—'} | ${cell(r.type)} | ${cell(dflt)} | ${cell(r.description || '—')} |`,
    );
  }
  return lines;
}

/** `doc` with the generated section replaced (or appended, with its markers, when it has none yet). */
export function withSettingsReference(doc: string, reference: string): string {
  const block = `${BEGIN_MARKER}\n${reference}\n${END_MARKER}`;
  const start = doc.indexOf(BEGIN_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (start === -1 || end < start) return `${doc.trimEnd()}\n\n## Settings reference\n\n${block}\n`;
  return doc.slice(0, start) + block + doc.slice(end + END_MARKER.length);
}
