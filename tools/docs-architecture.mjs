#!/usr/bin/env node
// Regenerates the tables in docs/architecture.md and README.md that describe
// code, so they cannot drift from it:
//
//   - the dependency rules, from .dependency-cruiser.mjs: the static rules of
//     .dependency-cruiser.cjs plus those generated per backend (each forbidden rule's
//     name, from, to and comment);
//   - the backends, from the registry (`backends` in src/composition/backends/index.ts):
//     name, config section and secret env vars, plus summary, adapter, libraries
//     and docs for the definitions that declare them;
//   - the Mermaid diagrams of the layers (from the import graph dependency-cruiser finds in src/)
//     and of a request's path (every step checked against the sources): tools/architecture-diagrams.ts.
//
// Each table sits between its GENERATED markers.
// Runs on the sources (through the TypeScript hooks): `npm run docs:gen` writes, `npm run docs:check` (CI) only compares and exits 1
// on a difference.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise } from 'dependency-cruiser';
import { backends } from '../src/composition/backends/index.js';
import { BaseConfigSchema } from '../src/composition/config/schema.js';
import {
  backendWrappers,
  importSet,
  layerGraph,
  layersMermaid,
  requestPathMermaid,
  requestPathSteps,
} from './architecture-diagrams.js';
import { withBlock } from './generated-block.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { default: depcruise } = await import('../.dependency-cruiser.mjs');
const DEFAULT_BACKEND = BaseConfigSchema.parse({}).backend;

const code = (s) => `\`${s}\``;
/** A table cell: pipes escaped (also inside code spans, as GitHub tables require), no line breaks. */
const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const list = (v) => (Array.isArray(v) ? v : [v]);
const patterns = (v) => list(v).map(code).join(' or ');

// ---- dependency rules -------------------------------------------------------

function describeSide(side, isTo) {
  const parts = [];
  const known = new Set(['path', 'pathNot', 'dependencyTypes', 'dependencyTypesNot', 'circular', 'orphan']);
  if (side.path) parts.push(patterns(side.path));
  if (side.pathNot) parts.push(`${side.path ? 'except' : 'anything except'} ${patterns(side.pathNot)}`);
  if (side.dependencyTypes)
    parts.push(`${isTo ? 'a dependency' : 'a module'} of type ${patterns(side.dependencyTypes)}`);
  if (side.dependencyTypesNot) parts.push(`unless the import is ${patterns(side.dependencyTypesNot)}`);
  if (side.circular) parts.push('a module that leads back to the importer (a cycle)');
  if (side.orphan) parts.push('an orphan (imports nothing, imported by nothing)');
  for (const [key, value] of Object.entries(side)) {
    if (!known.has(key)) parts.push(`${code(key)}: ${code(JSON.stringify(value))}`);
  }
  return parts.length ? parts.join(', ') : 'any module';
}

function rulesTable(config) {
  const sections = [
    ['forbidden', 'may not import'],
    ['allowed', 'may import'],
    ['required', 'must import'],
  ].filter(([key]) => (config[key] ?? []).length > 0);
  const rules = sections.flatMap(([key]) => config[key]);
  const severities = [...new Set(rules.map((r) => r.severity ?? 'warn'))];
  const out = [
    'Generated from `.dependency-cruiser.cjs` and the backend registry (`.dependency-cruiser.mjs`) by `npm run docs:gen`; do not edit by hand.',
    severities.length === 1 ? `Every rule has severity ${code(severities[0])}.` : '',
    'Patterns are regular expressions over paths from the repository root; `$1` in a To pattern stands for',
    'what the first group of the From pattern matched (for example the adapter’s own folder).',
  ].filter(Boolean);
  for (const [key, verb] of sections) {
    const withSeverity = severities.length > 1;
    if (sections.length > 1) out.push('', `**${key}**`);
    out.push(
      '',
      `| Rule | From | ${verb[0].toUpperCase()}${verb.slice(1)} |${withSeverity ? ' Severity |' : ''} Comment |`,
      `|---|---|---|${withSeverity ? '---|' : ''}---|`,
    );
    for (const r of config[key]) {
      const row = [
        code(r.name ?? '(unnamed)'),
        describeSide(r.from ?? {}, false),
        describeSide(r.to ?? {}, true),
        ...(withSeverity ? [code(r.severity ?? 'warn')] : []),
        r.comment ?? '—',
      ];
      out.push(`| ${row.map(cell).join(' | ')} |`);
    }
  }
  return out.join('\n');
}

// ---- backends ---------------------------------------------------------------

/** GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens. */
const slug = (heading) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

/** The generated settings section of one backend in docs/configuration.md, if there is one. */
function settingsAnchor(name) {
  const doc = readFileSync(posix.join(root, 'docs/configuration.md'), 'utf8');
  const heading = doc.split('\n').find((l) => l.startsWith('### ') && l.includes(code(name)) && /section/i.test(l));
  return heading ? `#${slug(heading.slice(4))}` : '';
}

/** A repository path for a registry `docs` value: a URL stays, `backends/x.md` means `docs/backends/x.md`. */
function docTarget(docs) {
  if (/^[a-z]+:/i.test(docs)) return { url: docs };
  const clean = docs.replace(/^\.\//, '');
  return { path: clean.startsWith('docs/') ? clean : `docs/${clean}` };
}

/** A markdown link to `path` (repository-relative) or `url`, from a file in `fromDir`. */
function link(text, target, fromDir) {
  if (target.url) return `[${text}](${target.url})`;
  const [file, anchor = ''] = target.path.split('#');
  return `[${text}](${posix.relative(fromDir, file) || posix.basename(file)}${anchor ? `#${anchor}` : ''})`;
}

function adapterPath(adapter) {
  if (typeof adapter !== 'string') return undefined;
  return adapter.includes('/') ? adapter : `src/adapters/outbound/${adapter}/`;
}

/** The registry's `docs`; else docs/backends/<name>.md, where CONTRIBUTING.md puts a backend's page; else its settings. */
function docsCell(b, fromDir) {
  const conventional = `docs/backends/${b.name}.md`;
  const t =
    typeof b.docs === 'string'
      ? docTarget(b.docs)
      : existsSync(posix.join(root, conventional))
        ? { path: conventional }
        : undefined;
  if (t) return link(t.url ?? posix.basename(t.path.split('#')[0]), t, fromDir);
  return link('settings', { path: `docs/configuration.md${settingsAnchor(b.name)}` }, fromDir);
}

const has = (field) => backends.some((b) => b[field] !== undefined);
const nameCell = (b) => `${code(b.name)}${b.name === DEFAULT_BACKEND ? ' (default)' : ''}`;

function backendsTable(fromDir) {
  const cols = [
    ['Backend', nameCell],
    ...(has('summary') ? [['Summary', (b) => b.summary ?? '—']] : []),
    [
      'Config section',
      (b) => link(code(b.section), { path: `docs/configuration.md${settingsAnchor(b.name)}` }, fromDir),
    ],
    ['Secret env vars', (b) => (b.secretEnv?.length ? b.secretEnv.map(code).join(', ') : '—')],
    ...(has('adapter') ? [['Adapter', (b) => (adapterPath(b.adapter) ? code(adapterPath(b.adapter)) : '—')]] : []),
    ...(has('libraries')
      ? [['Libraries it alone may import', (b) => (b.libraries?.length ? b.libraries.map(code).join(', ') : '—')]]
      : []),
    ['Docs', (b) => docsCell(b, fromDir)],
  ];
  return [
    'Generated from the backend registry (`backends` in `src/composition/backends/index.ts`) by',
    '`npm run docs:gen`; do not edit by hand.',
    '',
    `| ${cols.map(([h]) => h).join(' | ')} |`,
    `|${cols.map(() => '---|').join('')}`,
    ...backends.map((b) => `| ${cols.map(([, f]) => cell(f(b))).join(' | ')} |`),
  ].join('\n');
}

function readmeBackendsTable() {
  const cols = [
    ['Backend', nameCell],
    ...(has('summary') ? [['What it is', (b) => b.summary ?? '—']] : []),
    ['Docs', (b) => docsCell(b, '.')],
  ];
  return [
    `| ${cols.map(([h]) => h).join(' | ')} |`,
    `|${cols.map(() => '---|').join('')}`,
    ...backends.map((b) => `| ${cols.map(([, f]) => cell(f(b))).join(' | ')} |`),
  ].join('\n');
}

// ---- diagrams ---------------------------------------------------------------

/** The imports in src/, as `npm run deps:check` sees them (same options). */
async function cruiseSrc() {
  const prev = process.cwd();
  process.chdir(root); // tsConfig.fileName in the options is relative to the repository root
  try {
    const result = await cruise(['src'], { ...depcruise.options, includeOnly: '^src/' });
    return result.output.modules;
  } finally {
    process.chdir(prev);
  }
}

const modules = await cruiseSrc();
const adapters = backends.map((b) => b.adapter).filter((a) => typeof a === 'string' && !a.includes('/'));
const readSource = (path) => {
  const full = posix.join(root, path);
  return existsSync(full) ? readFileSync(full, 'utf8') : undefined;
};

function layersDiagram() {
  return [
    'Generated from the imports in `src/` (dependency-cruiser, as `npm run deps:check` runs it) and the backend',
    'registry by `npm run docs:gen`; do not edit by hand. A solid arrow is an import at run time, a dotted one',
    'imports types only (erased by the compiler); the composition root is drawn to the layers it wires.',
    '',
    layersMermaid(layerGraph(modules, adapters)),
  ].join('\n');
}

function requestPathDiagram() {
  const { wrappers, problems: found } = backendWrappers(
    adapters,
    modules.map((m) => m.source),
    readSource,
  );
  const { text, problems } = requestPathMermaid(requestPathSteps(wrappers), readSource, importSet(modules));
  diagramProblems.push(...found, ...problems);
  return [
    'Generated by `npm run docs:gen` from the steps in `tools/architecture-diagrams.ts`, each checked against',
    'the sources (files, classes, methods, imports); the backend participant lists the class of each registered',
    'backend that implements `KeyWrapper`. Do not edit by hand.',
    '',
    text,
  ].join('\n');
}

const diagramProblems = [];

// ---- files ------------------------------------------------------------------

const targets = [
  {
    file: 'docs/architecture.md',
    blocks: [
      ['layers-diagram', layersDiagram()],
      ['dependency-rules', rulesTable(depcruise)],
      ['backends', backendsTable('docs')],
      ['request-path-diagram', requestPathDiagram()],
    ],
  },
  { file: 'README.md', blocks: [['backends', readmeBackendsTable()]] },
];

if (diagramProblems.length) {
  for (const p of diagramProblems) console.error(p);
  console.error(
    'docs/architecture.md: the request-path diagram no longer matches the code; update tools/architecture-diagrams.ts',
  );
  process.exit(1);
}

const check = process.argv.includes('--check');
let stale = 0;
for (const { file, blocks } of targets) {
  const path = posix.join(root, file);
  const before = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const after = blocks.reduce((doc, [id, body]) => withBlock(doc, id, body, file), before);
  if (after === before) {
    if (!check) console.log(`${file}: generated tables are current`);
  } else if (check) {
    console.error(`${file} is out of date: run \`npm run docs:gen\` and commit the result`);
    stale++;
  } else {
    writeFileSync(path, after);
    console.log(`${file}: generated tables updated`);
  }
}
if (stale) process.exit(1);
