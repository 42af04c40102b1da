import type { BackendDefinition } from '../src/composition/backends/backend.js';

/** The JSON of `npm ls --omit=dev --all --json`, as far as it is read here. */
export interface NpmTree {
  dependencies?: Record<string, NpmNode>;
}
interface NpmNode {
  version?: string;
  extraneous?: boolean;
  dependencies?: Record<string, NpmNode>;
}

/**
 * The reviewed runtime inventory (test/reliability/runtime-deps.reviewed.json): every package
 * `name@version` kleidi can load, grouped by what pulls it in: `shared` from kleidi's own
 * dependencies, and under each backend's name what only that backend's libraries add.
 */
export interface RuntimeInventory {
  readonly shared: readonly string[];
  readonly backends: Readonly<Record<string, readonly string[]>>;
}

type Registry = readonly Pick<BackendDefinition, 'name' | 'libraries'>[];

/**
 * Groups the installed runtime tree by the registry. A package both a backend's libraries and
 * kleidi's other dependencies pull in is shared; one that two backends pull in is listed under
 * each. Extraneous packages are nobody's dependency (e.g. what an install script adds
 * with `npm install --no-save`); kleidi never loads them.
 */
export function groupRuntimeDeps(tree: NpmTree, registry: Registry): RuntimeInventory {
  const children = new Map<string, Set<string>>();
  const idOf = (name: string, node: NpmNode) => `${name}@${node.version ?? '?'}`;
  const walk = (deps: Record<string, NpmNode>) => {
    for (const [name, node] of Object.entries(deps)) {
      if (node.extraneous) continue;
      const id = idOf(name, node);
      const known = children.get(id) ?? new Set<string>();
      children.set(id, known);
      // npm lists a package's dependencies once; later ("deduped") occurrences carry only the version.
      for (const [child, c] of Object.entries(node.dependencies ?? {})) if (!c.extraneous) known.add(idOf(child, c));
      if (node.dependencies) walk(node.dependencies);
    }
  };
  walk(tree.dependencies ?? {});
  const closure = (roots: Iterable<string>) => {
    const seen = new Set<string>();
    const todo = [...roots];
    for (let id = todo.pop(); id !== undefined; id = todo.pop()) {
      if (seen.has(id)) continue;
      seen.add(id);
      todo.push(...(children.get(id) ?? []));
    }
    return seen;
  };
  const top = Object.entries(tree.dependencies ?? {}).filter(([, n]) => !n.extraneous);
  const owned = new Set(registry.flatMap((b) => b.libraries));
  const shared = closure(top.filter(([name]) => !owned.has(name)).map(([name, n]) => idOf(name, n)));
  const backends: Record<string, string[]> = {};
  for (const b of registry) {
    if (b.libraries.length === 0) continue;
    const roots = top.filter(([name]) => b.libraries.includes(name)).map(([name, n]) => idOf(name, n));
    backends[b.name] = [...closure(roots)].filter((id) => !shared.has(id)).sort();
  }
  return { shared: [...shared].sort(), backends };
}

/** Per group, what the installed tree has that the reviewed inventory lacks, and the reverse. */
export function inventoryDrift(
  reviewed: RuntimeInventory,
  current: RuntimeInventory,
): Record<string, { added: string[]; removed: string[] }> {
  const groups = new Set(['shared', ...Object.keys(reviewed.backends), ...Object.keys(current.backends)]);
  const drift: Record<string, { added: string[]; removed: string[] }> = {};
  for (const g of groups) {
    const was = g === 'shared' ? reviewed.shared : (reviewed.backends[g] ?? []);
    const now = g === 'shared' ? current.shared : (current.backends[g] ?? []);
    const added = now.filter((p) => !was.includes(p));
    const removed = was.filter((p) => !now.includes(p));
    if (added.length || removed.length) drift[g] = { added, removed };
  }
  return drift;
}
