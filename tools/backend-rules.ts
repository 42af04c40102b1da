import type { BackendDefinition } from '../src/composition/backends/backend.js';

/** The part of a dependency-cruiser rule these generators write (dependency-cruiser's IForbiddenRuleType). */
export interface ForbiddenRule {
  readonly name: string;
  readonly comment: string;
  readonly severity: 'error';
  readonly from: { readonly path?: string; readonly pathNot?: string };
  readonly to: {
    readonly path?: string;
    readonly pathNot?: string;
    readonly dependencyTypes?: readonly string[];
  };
}

/** What dependency-cruiser calls an npm package, whatever package.json section it comes from. */
const NPM = ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-bundled', 'npm-no-pkg', 'npm-unknown'];

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Matches a resolved module inside one of `libraries` (scoped names included). */
const inPackages = (libraries: readonly string[]) => `node_modules/(${libraries.map(escapeRegExp).join('|')})/`;

/**
 * The per-backend rules of .dependency-cruiser.mjs, generated from the registry so that a new
 * backend gets them with no edit there: its declared libraries may be imported from its
 * adapter folder only, and its adapter folder imports no other npm package. Adapters not
 * knowing each other is a static rule (.dependency-cruiser.cjs).
 */
export function backendLibraryRules(
  registry: readonly Pick<BackendDefinition, 'name' | 'adapter' | 'libraries'>[],
): ForbiddenRule[] {
  const owner = new Map<string, string>();
  for (const b of registry) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(b.adapter))
      throw new Error(`backend ${b.name}: adapter must be a folder name, got "${b.adapter}"`);
    for (const lib of b.libraries) {
      const other = owner.get(lib);
      if (other !== undefined) throw new Error(`${lib} is declared by both the ${other} and ${b.name} backends`);
      owner.set(lib, b.name);
    }
  }
  const adapterFolder = (b: { adapter: string }) => `^src/adapters/outbound/${escapeRegExp(b.adapter)}/`;
  return registry.flatMap((b) => {
    const own: ForbiddenRule[] = b.libraries.length
      ? [
          {
            name: `${b.name}-libraries-only-in-its-adapter`,
            comment: `${b.libraries.join(', ')} (the ${b.name} backend's libraries) are imported only in src/adapters/outbound/${b.adapter}/`,
            severity: 'error',
            from: { pathNot: adapterFolder(b) },
            to: { path: inPackages(b.libraries) },
          },
        ]
      : [];
    const only: ForbiddenRule = {
      name: `${b.name}-adapter-imports-only-its-libraries`,
      comment: b.libraries.length
        ? `src/adapters/outbound/${b.adapter}/ imports no npm package but ${b.libraries.join(', ')} (declared in its registration)`
        : `src/adapters/outbound/${b.adapter}/ imports no npm package (its registration declares none)`,
      severity: 'error',
      from: { path: adapterFolder(b) },
      to: {
        dependencyTypes: NPM,
        ...(b.libraries.length ? { pathNot: inPackages(b.libraries) } : {}),
      },
    };
    return [...own, only];
  });
}
