import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type BackendDefinition, defineBackend } from '#src/composition/backends/backend.js';
import { buildCli } from '#src/adapters/inbound/cli/cli.js';
import { backends, DEFAULT_BACKEND } from '#src/composition/backends/index.js';
import { cliApp } from '#src/composition/cli-app.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';
import { backendLibraryRules } from '../../../../tools/backend-rules.js';
import { settingsReference } from '../../../../tools/config-reference.js';

const REPO = join(import.meta.dirname, '../../../..');

/** A backend that exists only in this test: registered in one place, the list below. */
const testOnly = defineBackend({
  name: 'test-only',
  summary: 'a key held by a test-only service',
  section: 'testOnly',
  schema: z.strictObject({
    endpoint: z.string().min(1).meta({ description: 'Where the test-only service listens.' }),
  }),
  secretEnv: ['KLEIDI_TEST_ONLY_TOKEN'],
  adapter: 'test-only',
  libraries: ['@test-only/sdk'],
  openWrapper: () => Promise.reject(new BackendMisconfiguredError('test-only backend: nothing to serve')),
  openAdmin: () => Promise.reject(new BackendMisconfiguredError('test-only backend: nothing to administer')),
});
const registry = [...backends, testOnly];

const commands = (list: readonly BackendDefinition[] = registry) =>
  buildCli(cliApp({}, list), () => undefined).commands;
const serveOf = (list: readonly BackendDefinition[] = registry) => {
  const serve = commands(list).find((c) => c.name() === 'serve');
  if (!serve) throw new Error('no serve command');
  return serve;
};

describe('a backend added to the registry shows up everywhere, with no other edit', () => {
  it('in the --backend help of every command that takes it (kleidi --help)', () => {
    for (const cmd of commands().filter((c) => ['serve', 'init', 'rotate', 'keys'].includes(c.name()))) {
      const help = cmd.helpInformation();
      expect(help, cmd.name()).toContain('test-only');
      for (const b of backends) expect(help, cmd.name()).toContain(b.name);
    }
    expect(serveOf(backends).helpInformation()).not.toContain('test-only');
  });

  it('in the configuration reference: the backend setting, its section with env names, its secret', () => {
    const reference = settingsReference(serveOf(), registry);
    expect(reference).toContain('`test-only` (a key held by a test-only service)');
    expect(reference).toContain('### Backend `test-only` (YAML section `testOnly`)');
    expect(reference).toContain(
      '| `testOnly.endpoint` | `KLEIDI_TEST_ONLY_ENDPOINT` | — | string | **required** | Where the test-only service listens. |',
    );
    expect(reference).toContain('| `KLEIDI_TEST_ONLY_TOKEN` | a secret the `test-only` backend reads itself');
    expect(settingsReference(serveOf(backends))).not.toContain('test-only');
  });

  it('in the dependency rules: its libraries only in its adapter folder, which imports nothing else', () => {
    const rules = backendLibraryRules(registry);
    const only = rules.find((r) => r.name === 'test-only-libraries-only-in-its-adapter');
    const imports = rules.find((r) => r.name === 'test-only-adapter-imports-only-its-libraries');
    expect(only?.from).toEqual({ pathNot: '^src/adapters/outbound/test-only/' });
    const lib = new RegExp(only?.to.path ?? '$^');
    expect(lib.test('node_modules/@test-only/sdk/dist/index.js')).toBe(true);
    expect(lib.test('node_modules/@test-only/sdk-extra/index.js')).toBe(false);
    expect(imports?.from).toEqual({ path: '^src/adapters/outbound/test-only/' });
    expect(new RegExp(imports?.to.pathNot ?? '$^').test('node_modules/@test-only/sdk/index.js')).toBe(true);
    expect(imports?.to.dependencyTypes).toContain('npm');
  });
});

describe('the backend registry', () => {
  it('names the default first in help text, and every backend once', () => {
    // Commander wraps the help at 80 columns.
    expect(serveOf(backends).helpInformation().replace(/\s+/g, ' ')).toContain(
      'local (default), pkcs11, vault, aws, gcp, azure, delinea, tpm or in-memory',
    );
    expect(DEFAULT_BACKEND).toBe('local');
    expect(new Set(backends.map((b) => b.name)).size).toBe(backends.length);
    expect(new Set(backends.map((b) => b.section)).size).toBe(backends.length);
  });

  it('points at files that exist: adapter folder, docs, and the tests of every backend with a test server', () => {
    for (const b of backends) {
      expect(existsSync(join(REPO, 'src/adapters/outbound', b.adapter)), b.name).toBe(true);
      // Installed as runtime dependencies.
      for (const lib of b.libraries)
        expect(existsSync(join(REPO, 'node_modules', lib, 'package.json')), `${b.name}: ${lib}`).toBe(true);
      if (b.docs) expect(existsSync(join(REPO, b.docs)), b.docs).toBe(true);
      if (!b.testing) continue;
      expect(b.testing.harness).toBe(`test/backends/${b.name}.harness.ts`);
      expect(b.testing.contract).toBe(`test/contract/${b.name}.contract.test.ts`);
      expect(b.testing.campaign).toMatch(new RegExp(`^test/reliability/\\d+-${b.name}\\.campaign\\.ts$`));
      for (const f of Object.values(b.testing)) expect(existsSync(join(REPO, f)), f).toBe(true);
    }
  });

  it('refuses a library declared by two backends: only one adapter may own it', () => {
    expect(() => backendLibraryRules([...registry, { ...testOnly, name: 'twin', adapter: 'twin' }])).toThrow(
      '@test-only/sdk is declared by both the test-only and twin backends',
    );
  });

  it('is what npm run deps:check enforces (.dependency-cruiser.mjs adds the generated rules)', async () => {
    const config = (await import(pathToFileURL(join(REPO, '.dependency-cruiser.mjs')).href)) as {
      default: { forbidden: { name: string }[] };
    };
    const names = config.default.forbidden.map((r) => r.name);
    for (const r of backendLibraryRules(backends)) expect(names).toContain(r.name);
    expect(names).toContain('pkcs11-libraries-only-in-its-adapter');
    expect(names).toContain('vault-libraries-only-in-its-adapter');
  });

  it('groups the reviewed runtime dependencies by the backends that declare libraries', () => {
    const reviewed = JSON.parse(readFileSync(join(REPO, 'test/reliability/runtime-deps.reviewed.json'), 'utf8')) as {
      shared: string[];
      backends: Record<string, string[]>;
    };
    const withLibraries = backends.filter((b) => b.libraries.length > 0);
    expect(Object.keys(reviewed.backends).sort()).toEqual(withLibraries.map((b) => b.name).sort());
    const name = (id: string) => id.slice(0, id.lastIndexOf('@'));
    for (const b of withLibraries) {
      for (const lib of b.libraries) {
        expect(reviewed.backends[b.name]?.map(name), b.name).toContain(lib);
        expect(reviewed.shared.map(name), lib).not.toContain(lib);
      }
    }
  });
});
