// The Mermaid diagrams of docs/architecture.md, kept from drifting from the code
// (tools/docs-architecture.mjs writes them between GENERATED markers; `npm run docs:check` fails
// when they differ):
//
//   - the layers: drawn from the import graph dependency-cruiser finds in src/ (the same cruise
//     `npm run deps:check` runs), folded to one node per layer or adapter folder; the backends'
//     adapter folders, named by the registry, share one node. An import that appears or goes away
//     changes the diagram.
//   - a request's path: a sequence written here, whose every participant, call and import is
//     checked against the sources; a renamed method, a moved file or an import that is no longer
//     there fails the generator with the step it broke. The backend participant lists the class of
//     each registered backend's adapter folder that implements the KeyWrapper port.
//
// Mermaid syntax: https://mermaid.js.org/syntax/flowchart.html and
// https://mermaid.js.org/syntax/sequenceDiagram.html; GitHub renders ```mermaid blocks
// (https://docs.github.com/en/get-started/writing-on-github/working-with-advanced-formatting/creating-diagrams).

/** A module and its imports, as dependency-cruiser reports them (`cruise(...).output.modules`). */
export interface CruisedModule {
  readonly source: string;
  readonly dependencies: readonly { readonly resolved: string; readonly dependencyTypes: readonly string[] }[];
}

interface LayerNode {
  readonly id: string;
  readonly label: string;
  readonly tier: Tier;
}

const TIERS = {
  entry: 'entry and wiring',
  inbound: 'inbound adapters',
  ports: 'ports: interfaces only',
  domain: 'domain',
  outbound: 'outbound adapters',
} as const;
type Tier = keyof typeof TIERS;

/** Nodes whose imports are drawn to the tier they reach, not to each node: the wiring reaches everything. */
const DRAWN_TO_TIERS = new Set(['composition']);

/**
 * The layer node of a module under src/, or undefined outside src/. `backendAdapters` are the
 * registry's adapter folder names (src/adapters/outbound/<name>/), drawn as one node.
 */
export function layerOf(path: string, backendAdapters: readonly string[]): LayerNode | undefined {
  if (/^src\/[^/]+\.ts$/.test(path))
    return { id: 'main', label: 'main.ts · core-dumps.ts · heap-tuning.ts', tier: 'entry' };
  if (path.startsWith('src/composition/')) return { id: 'composition', label: 'composition/', tier: 'entry' };
  let m = /^src\/adapters\/inbound\/([^/]+)\//.exec(path);
  if (m) return { id: `in_${m[1]}`, label: `${m[1]}/`, tier: 'inbound' };
  m = /^src\/adapters\/outbound\/([^/]+)\//.exec(path);
  if (m) {
    const folder = m[1] as string;
    if (backendAdapters.includes(folder))
      return {
        id: 'backends',
        label: `backends: ${backendAdapters.map((a) => `${a}/`).join(' · ')}`,
        tier: 'outbound',
      };
    return { id: `out_${folder.replace(/\W/g, '_')}`, label: `${folder}/`, tier: 'outbound' };
  }
  m = /^src\/(ports|domain)\/([^/]+)\//.exec(path);
  if (m) return { id: `${m[1]}_${m[2]}`, label: `${m[1]}/${m[2]}/`, tier: m[1] as Tier };
  return undefined;
}

export interface LayerGraph {
  readonly nodes: readonly LayerNode[];
  /** `to` is a node id, or a tier id (`tier_<name>`) for the nodes in DRAWN_TO_TIERS. */
  readonly edges: readonly { readonly from: string; readonly to: string; readonly typeOnly: boolean }[];
}

/** Folds the module graph to layers; an edge is type-only when every import it stands for is. */
export function layerGraph(modules: readonly CruisedModule[], backendAdapters: readonly string[]): LayerGraph {
  const nodes = new Map<string, LayerNode>();
  const edges = new Map<string, { from: string; to: string; typeOnly: boolean }>();
  for (const mod of modules) {
    const from = layerOf(mod.source, backendAdapters);
    if (!from) continue;
    nodes.set(from.id, from);
    for (const dep of mod.dependencies) {
      const to = layerOf(dep.resolved, backendAdapters);
      if (!to) continue;
      nodes.set(to.id, to);
      if (to.id === from.id) continue;
      const target = DRAWN_TO_TIERS.has(from.id) ? `tier_${to.tier}` : to.id;
      if (DRAWN_TO_TIERS.has(from.id) && to.tier === from.tier) continue;
      const typeOnly = dep.dependencyTypes.includes('type-only');
      const key = `${from.id}>${target}`;
      const seen = edges.get(key);
      edges.set(key, { from: from.id, to: target, typeOnly: (seen?.typeOnly ?? true) && typeOnly });
    }
  }
  const tierOrder = Object.keys(TIERS);
  const byTier = (a: LayerNode, b: LayerNode) =>
    tierOrder.indexOf(a.tier) - tierOrder.indexOf(b.tier) || a.id.localeCompare(b.id);
  return {
    nodes: [...nodes.values()].sort(byTier),
    edges: [...edges.values()].sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to)),
  };
}

/** Text inside a quoted Mermaid label: quotes become #quot;, the entity Mermaid documents. */
const label = (s: string): string => `"${s.replace(/"/g, '#quot;')}"`;

/** The layers as a Mermaid flowchart: solid arrows import at run time, dotted ones only types. */
export function layersMermaid(graph: LayerGraph): string {
  const out = ['```mermaid', 'flowchart TB'];
  for (const [tier, title] of Object.entries(TIERS)) {
    const members = graph.nodes.filter((n) => n.tier === tier);
    if (members.length === 0) continue;
    out.push(`  subgraph tier_${tier} [${label(title)}]`);
    for (const n of members) out.push(`    ${n.id}[${label(n.label)}]`);
    out.push('  end');
  }
  for (const e of graph.edges) out.push(`  ${e.from} ${e.typeOnly ? '-.->' : '-->'} ${e.to}`);
  out.push('```');
  return out.join('\n');
}

// ---- a request's path -------------------------------------------------------

/** What a step claims about the code; each is checked. */
export type Fact =
  /** `file` declares `name` (class, interface, function, const or type). */
  | { readonly file: string; readonly declares: string }
  /** `file` defines a member or property `name`: a line that starts with it (after modifiers), then `(`, `:`, `<` or `?`. */
  | { readonly file: string; readonly member: string }
  /** `file` declares class `cls` implementing `iface`. */
  | { readonly file: string; readonly cls: string; readonly implements: string }
  /** `file` mentions `name` (a function it calls). */
  | { readonly file: string; readonly uses: string }
  /** `file` imports `from` (a runtime or type-only import dependency-cruiser sees). */
  | { readonly file: string; readonly imports: string };

export interface Step {
  /** A line of the Mermaid sequence diagram, as written. */
  readonly line: string;
  readonly facts?: readonly Fact[];
}

/** Reads a source file (path from the repository root), undefined when it does not exist. */
export type ReadSource = (path: string) => string | undefined;

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The problems with `fact`, as sentences; none when it holds. */
export function checkFact(fact: Fact, read: ReadSource, imports: ReadonlySet<string>): string[] {
  const text = read(fact.file);
  if (text === undefined) return [`${fact.file} does not exist`];
  if ('declares' in fact)
    return new RegExp(`\\b(class|interface|function|const|type)\\s+${esc(fact.declares)}\\b`).test(text)
      ? []
      : [`${fact.file} declares no ${fact.declares}`];
  if ('member' in fact)
    return new RegExp(
      `^\\s*(?:(?:public|private|protected|readonly|static|async|override|get|set)\\s+)*${esc(fact.member)}\\s*[(:<?]`,
      'm',
    ).test(text)
      ? []
      : [`${fact.file} defines no member ${fact.member}`];
  if ('implements' in fact)
    return new RegExp(`\\bclass\\s+${esc(fact.cls)}\\b[^{]*\\bimplements\\b[^{]*\\b${esc(fact.implements)}\\b`).test(
      text,
    )
      ? []
      : [`${fact.file} has no class ${fact.cls} implementing ${fact.implements}`];
  if ('uses' in fact)
    return new RegExp(`\\b${esc(fact.uses)}\\b`).test(text) ? [] : [`${fact.file} does not use ${fact.uses}`];
  return imports.has(`${fact.file}>${fact.imports}`) ? [] : [`${fact.file} does not import ${fact.imports}`];
}

/** Every runtime or type-only import, as `from>to` module paths. */
export function importSet(modules: readonly CruisedModule[]): Set<string> {
  return new Set(modules.flatMap((m) => m.dependencies.map((d) => `${m.source}>${d.resolved}`)));
}

const GRPC = 'src/adapters/inbound/grpc/grpc-js.service.ts';
const SERVER = 'src/adapters/inbound/grpc/grpc-js.server.ts';
const HANDLERS = 'src/adapters/inbound/grpc/kms-v2.handlers.ts';
const ERRORS = 'src/adapters/inbound/grpc/error-mapping.ts';
const KM_PORT = 'src/ports/inbound/key-management.port.ts';
const ENVELOPE = 'src/domain/services/envelope-service.ts';
const TRACKER = 'src/domain/services/key-state-tracker.ts';
const KW_PORT = 'src/ports/outbound/key-wrapper.port.ts';
const METRICS = 'src/domain/services/backend-metrics.ts';
const OBSERVABILITY = 'src/composition/observability.ts';

/** The backend participant: per registered adapter folder, its class implementing KeyWrapper. */
export interface BackendWrapper {
  readonly adapter: string;
  readonly file: string;
  readonly cls: string;
}

/** Finds, in each adapter folder, the one class that implements KeyWrapper; problems otherwise. */
export function backendWrappers(
  backendAdapters: readonly string[],
  files: readonly string[],
  read: ReadSource,
): { wrappers: BackendWrapper[]; problems: string[] } {
  const wrappers: BackendWrapper[] = [];
  const problems: string[] = [];
  for (const adapter of backendAdapters) {
    const dir = `src/adapters/outbound/${adapter}/`;
    const found = files
      .filter((f) => f.startsWith(dir) && f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .flatMap((file) =>
        [...(read(file) ?? '').matchAll(/\bclass\s+(\w+)\b[^{]*\bimplements\b[^{]*\bKeyWrapper\b/g)].map((m) => ({
          adapter,
          file,
          cls: m[1] as string,
        })),
      );
    if (found.length === 1) wrappers.push(found[0] as BackendWrapper);
    else
      problems.push(
        `${dir} has ${found.length} classes implementing KeyWrapper; the request path shows one per backend`,
      );
  }
  return { wrappers, problems };
}

/** The sequence of a Status, an Encrypt and a Decrypt, with what each step claims about the code. */
export function requestPathSteps(wrappers: readonly BackendWrapper[]): Step[] {
  const backendFacts = (member: string): Fact[] =>
    wrappers.flatMap((w) => [
      { file: w.file, cls: w.cls, implements: 'KeyWrapper' },
      { file: w.file, member },
    ]);
  return [
    { line: 'sequenceDiagram' },
    { line: '  participant api as kube-apiserver' },
    {
      line: '  participant grpc as gRPC adapter<br/>grpc-js.service.ts',
      facts: [
        { file: GRPC, declares: 'unaryCall' },
        { file: SERVER, imports: GRPC },
      ],
    },
    { line: '  participant h as kms-v2.handlers.ts', facts: [{ file: HANDLERS, declares: 'kmsV2Handlers' }] },
    {
      line: '  participant svc as EnvelopeService<br/>(KeyManagement port)',
      facts: [
        { file: KM_PORT, declares: 'KeyManagement' },
        { file: ENVELOPE, cls: 'EnvelopeService', implements: 'KeyManagement' },
      ],
    },
    { line: '  participant tr as KeyStateTracker', facts: [{ file: TRACKER, declares: 'KeyStateTracker' }] },
    {
      line: '  participant kw as InstrumentedKeyWrapper<br/>(KeyWrapper port)',
      facts: [
        { file: KW_PORT, declares: 'KeyWrapper' },
        { file: METRICS, cls: 'InstrumentedKeyWrapper', implements: 'KeyWrapper' },
        // The composition wraps every backend's KeyWrapper in it.
        { file: OBSERVABILITY, uses: 'InstrumentedKeyWrapper' },
      ],
    },
    { line: `  participant be as backend adapter<br/>${wrappers.map((w) => w.cls).join('<br/>')}` },
    { line: '  api->>grpc: Status, Encrypt or Decrypt: h2c on the Unix socket, with grpc-timeout' },
    {
      line: '  Note over grpc: unaryCall: an AbortSignal for the deadline or a cancel',
      facts: [
        { file: GRPC, uses: 'DeadlineExceededError' },
        { file: GRPC, uses: 'CancelledError' },
      ],
    },
    { line: '  grpc->>h: status, encrypt or decrypt (req, ctx)', facts: [{ file: SERVER, uses: 'unaryCall' }] },
    { line: '  alt Status' },
    {
      line: '    h->>svc: status(signal)',
      facts: [
        { file: HANDLERS, member: 'status' },
        { file: KM_PORT, member: 'status' },
        { file: ENVELOPE, member: 'status' },
      ],
    },
    { line: '    svc->>tr: status()', facts: [{ file: TRACKER, member: 'status' }] },
    { line: '    tr-->>svc: the cached key_id and healthz, no backend call' },
    { line: '    svc-->>h: version, healthz, key_id' },
    { line: '  else Encrypt' },
    {
      line: '    h->>svc: encrypt(cmd, signal)',
      facts: [
        { file: HANDLERS, imports: KM_PORT },
        { file: HANDLERS, member: 'encrypt' },
        { file: KM_PORT, member: 'encrypt' },
        { file: ENVELOPE, member: 'encrypt' },
      ],
    },
    {
      line: '    svc->>tr: writeVersion()',
      facts: [
        { file: ENVELOPE, imports: TRACKER },
        { file: TRACKER, member: 'writeVersion' },
      ],
    },
    { line: '    tr-->>svc: the version Status reports' },
    {
      line: '    svc->>kw: wrap(seed, version, signal)',
      facts: [
        { file: ENVELOPE, imports: KW_PORT },
        { file: KW_PORT, member: 'wrap' },
        { file: METRICS, member: 'wrap' },
      ],
    },
    { line: '    kw->>be: wrap(seed, version, signal)', facts: backendFacts('wrap') },
    { line: '    be-->>kw: WrappedKey' },
    { line: '    kw-->>svc: WrappedKey, counted and timed' },
    { line: '    Note over svc: encodeEnvelope', facts: [{ file: ENVELOPE, uses: 'encodeEnvelope' }] },
    { line: '    svc-->>h: ciphertext, key_id, annotations' },
    { line: '  else Decrypt' },
    {
      line: '    h->>svc: decrypt(cmd, signal)',
      facts: [
        { file: HANDLERS, member: 'decrypt' },
        { file: KM_PORT, member: 'decrypt' },
        { file: ENVELOPE, member: 'decrypt' },
      ],
    },
    {
      line: '    Note over svc: parseKeyId, decodeEnvelope, key_id and annotations compared',
      facts: [
        { file: ENVELOPE, uses: 'parseKeyId' },
        { file: ENVELOPE, uses: 'decodeEnvelope' },
        { file: ENVELOPE, uses: 'annotationsEqual' },
      ],
    },
    {
      line: '    svc->>kw: unwrap(envelope, signal)',
      facts: [
        { file: KW_PORT, member: 'unwrap' },
        { file: METRICS, member: 'unwrap' },
      ],
    },
    { line: '    kw->>be: unwrap(envelope, signal)', facts: backendFacts('unwrap') },
    { line: '    be-->>kw: seed' },
    { line: '    kw-->>svc: seed, counted and timed' },
    { line: '    svc-->>h: plaintext' },
    { line: '  end' },
    {
      line: '  h-->>grpc: the response, or toRpcError: the error kind mapped to a gRPC code',
      facts: [
        { file: HANDLERS, imports: ERRORS },
        { file: ERRORS, declares: 'toRpcError' },
      ],
    },
    { line: '  grpc-->>api: the response message, or that gRPC status' },
  ];
}

/** The diagram, or the steps whose claims about the code no longer hold. */
export function requestPathMermaid(
  steps: readonly Step[],
  read: ReadSource,
  imports: ReadonlySet<string>,
): { text: string; problems: string[] } {
  const problems = steps.flatMap((s) =>
    (s.facts ?? []).flatMap((f) => checkFact(f, read, imports).map((p) => `request path, "${s.line.trim()}": ${p}`)),
  );
  return { text: ['```mermaid', ...steps.map((s) => s.line), '```'].join('\n'), problems };
}
