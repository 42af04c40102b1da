import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  backendWrappers,
  type CruisedModule,
  checkFact,
  layerGraph,
  layerOf,
  layersMermaid,
  type ReadSource,
  requestPathMermaid,
  requestPathSteps,
} from '../../../tools/architecture-diagrams.js';

const REPO = new URL('../../../', import.meta.url).pathname;
const readRepo: ReadSource = (path) => {
  const full = join(REPO, path);
  return existsSync(full) ? readFileSync(full, 'utf8') : undefined;
};
const BACKENDS = ['local', 'pkcs11', 'vault-transit', 'aws', 'in-memory'];
const WRAPPER_FILES = [
  'src/adapters/outbound/local/local.key-wrapper.ts',
  'src/adapters/outbound/local/keyring-marker.ts',
  'src/adapters/outbound/pkcs11/pkcs11.key-wrapper.ts',
  'src/adapters/outbound/vault-transit/vault-transit.key-wrapper.ts',
  'src/adapters/outbound/aws/aws-kms.key-wrapper.ts',
  'src/adapters/outbound/in-memory/in-memory.key-wrapper.ts',
];
/** The imports the request path claims, as dependency-cruiser reports them in src/ today. */
const IMPORTS = new Set([
  'src/adapters/inbound/grpc/grpc-js.server.ts>src/adapters/inbound/grpc/grpc-js.service.ts',
  'src/adapters/inbound/grpc/kms-v2.handlers.ts>src/ports/inbound/key-management.port.ts',
  'src/adapters/inbound/grpc/kms-v2.handlers.ts>src/adapters/inbound/grpc/error-mapping.ts',
  'src/domain/services/envelope-service.ts>src/domain/services/key-state-tracker.ts',
  'src/domain/services/envelope-service.ts>src/ports/outbound/key-wrapper.port.ts',
]);

const mod = (source: string, ...deps: [string, 'type-only' | 'local'][]): CruisedModule => ({
  source,
  dependencies: deps.map(([resolved, t]) => ({ resolved, dependencyTypes: [t] })),
});

describe('the layers diagram', () => {
  it('folds each module into its layer or adapter folder, the backends into one node', () => {
    expect(layerOf('src/main.ts', BACKENDS)?.id).toBe('main');
    expect(layerOf('src/heap-tuning.ts', BACKENDS)?.id).toBe('main');
    expect(layerOf('src/composition/backends/local.ts', BACKENDS)?.id).toBe('composition');
    expect(layerOf('src/adapters/inbound/grpc/gen/kms/v2/api_pb.ts', BACKENDS)).toMatchObject({
      id: 'in_grpc',
      tier: 'inbound',
    });
    expect(layerOf('src/adapters/outbound/vault-transit/x.ts', BACKENDS)).toMatchObject({
      id: 'backends',
      tier: 'outbound',
    });
    expect(layerOf('src/adapters/outbound/logging/pino.ts', BACKENDS)).toMatchObject({ id: 'out_logging' });
    expect(layerOf('src/ports/outbound/clock.port.ts', BACKENDS)).toMatchObject({
      id: 'ports_outbound',
      tier: 'ports',
    });
    expect(layerOf('src/domain/model/errors.ts', BACKENDS)).toMatchObject({ id: 'domain_model', tier: 'domain' });
    expect(layerOf('node_modules/pino/pino.js', BACKENDS)).toBeUndefined();
  });

  it('draws one edge per pair of layers, dotted only when every import behind it is type-only', () => {
    const g = layerGraph(
      [
        mod(
          'src/adapters/inbound/grpc/a.ts',
          ['src/ports/inbound/km.port.ts', 'type-only'],
          ['src/domain/model/errors.ts', 'type-only'],
          ['src/adapters/inbound/grpc/b.ts', 'local'],
        ),
        mod('src/adapters/inbound/grpc/b.ts', ['src/domain/model/errors.ts', 'local']),
        mod('src/adapters/outbound/local/w.ts', ['src/adapters/outbound/shared/s.ts', 'local']),
      ],
      BACKENDS,
    );
    expect(g.edges).toEqual([
      { from: 'backends', to: 'out_shared', typeOnly: false },
      { from: 'in_grpc', to: 'domain_model', typeOnly: false },
      { from: 'in_grpc', to: 'ports_inbound', typeOnly: true },
    ]);
  });

  it("draws the composition root's imports to the tiers it reaches, not to every node", () => {
    const g = layerGraph(
      [
        mod(
          'src/composition/container.ts',
          ['src/adapters/outbound/local/w.ts', 'local'],
          ['src/adapters/outbound/logging/l.ts', 'local'],
          ['src/ports/outbound/k.port.ts', 'type-only'],
          ['src/composition/tokens.ts', 'local'],
        ),
      ],
      BACKENDS,
    );
    expect(g.edges).toEqual([
      { from: 'composition', to: 'tier_outbound', typeOnly: false },
      { from: 'composition', to: 'tier_ports', typeOnly: true },
    ]);
  });

  it('writes a Mermaid flowchart: one subgraph per tier, quoted labels, solid and dotted arrows', () => {
    const text = layersMermaid(
      layerGraph(
        [
          mod(
            'src/domain/services/e.ts',
            ['src/domain/model/m.ts', 'local'],
            ['src/ports/outbound/k.port.ts', 'type-only'],
          ),
          mod('src/ports/outbound/k.port.ts', ['src/domain/model/m.ts', 'type-only']),
        ],
        BACKENDS,
      ),
    );
    expect(text).toBe(
      [
        '```mermaid',
        'flowchart TB',
        '  subgraph tier_ports ["ports: interfaces only"]',
        '    ports_outbound["ports/outbound/"]',
        '  end',
        '  subgraph tier_domain ["domain"]',
        '    domain_model["domain/model/"]',
        '    domain_services["domain/services/"]',
        '  end',
        '  domain_services --> domain_model',
        '  domain_services -.-> ports_outbound',
        '  ports_outbound -.-> domain_model',
        '```',
      ].join('\n'),
    );
  });
});

describe('the request-path diagram', () => {
  const { wrappers, problems: found } = backendWrappers(BACKENDS, WRAPPER_FILES, readRepo);

  it("names each registered backend's KeyWrapper class", () => {
    expect(found).toEqual([]);
    expect(wrappers.map((w) => w.cls)).toEqual([
      'LocalKeyWrapper',
      'Pkcs11KeyWrapper',
      'VaultTransitKeyWrapper',
      'AwsKmsKeyWrapper',
      'InMemoryKeyWrapper',
    ]);
  });

  it('holds against the current sources: kube-apiserver → gRPC adapter → domain service → KeyWrapper → backend', () => {
    const { text, problems } = requestPathMermaid(requestPathSteps(wrappers), readRepo, IMPORTS);
    expect(problems).toEqual([]);
    expect(text.startsWith('```mermaid\nsequenceDiagram\n')).toBe(true);
    for (const line of [
      '  participant api as kube-apiserver',
      '    h->>svc: encrypt(cmd, signal)',
      '    svc->>kw: wrap(seed, version, signal)',
      '    kw->>be: unwrap(envelope, signal)',
    ])
      expect(text).toContain(`\n${line}\n`);
    expect(text).toContain('backend adapter<br/>LocalKeyWrapper<br/>Pkcs11KeyWrapper');
  });

  it('fails, naming the step, when a method it shows is renamed in the code (a call left behind does not count)', () => {
    const renamed: ReadSource = (p) =>
      p.endsWith('key-state-tracker.ts')
        ? readRepo(p)?.replace('writeVersion(): KeyVersion', 'versionForWrites(): KeyVersion')
        : readRepo(p);
    const { problems } = requestPathMermaid(requestPathSteps(wrappers), renamed, IMPORTS);
    expect(problems).toEqual([
      'request path, "svc->>tr: writeVersion()": src/domain/services/key-state-tracker.ts defines no member writeVersion',
    ]);
  });

  it('fails when an import it relies on is gone, or a file moved', () => {
    const fewer = new Set([...IMPORTS].filter((i) => !i.includes('key-wrapper.port')));
    expect(requestPathMermaid(requestPathSteps(wrappers), readRepo, fewer).problems).toEqual([
      'request path, "svc->>kw: wrap(seed, version, signal)": src/domain/services/envelope-service.ts does not import src/ports/outbound/key-wrapper.port.ts',
    ]);
    const moved: ReadSource = (p) => (p.endsWith('kms-v2.handlers.ts') ? undefined : readRepo(p));
    expect(requestPathMermaid(requestPathSteps(wrappers), moved, IMPORTS).problems).toContain(
      'request path, "participant h as kms-v2.handlers.ts": src/adapters/inbound/grpc/kms-v2.handlers.ts does not exist',
    );
  });

  it('fails when a backend folder has no KeyWrapper class, or two', () => {
    const read: ReadSource = (p) =>
      p === 'src/adapters/outbound/two/a.ts'
        ? 'class A implements KeyWrapper {}\nclass B implements KeyAdmin, KeyWrapper {}'
        : '';
    expect(backendWrappers(['two', 'none'], ['src/adapters/outbound/two/a.ts'], read).problems).toEqual([
      'src/adapters/outbound/two/ has 2 classes implementing KeyWrapper; the request path shows one per backend',
      'src/adapters/outbound/none/ has 0 classes implementing KeyWrapper; the request path shows one per backend',
    ]);
  });

  it('checks each kind of claim', () => {
    const read: ReadSource = (p) =>
      p === 'f.ts' ? 'export class C implements P {\n  go(x: number) {\n    this.call(x);\n  }\n}\nuse(1);' : undefined;
    const none = new Set<string>();
    expect(checkFact({ file: 'f.ts', declares: 'C' }, read, none)).toEqual([]);
    expect(checkFact({ file: 'f.ts', declares: 'D' }, read, none)).toEqual(['f.ts declares no D']);
    expect(checkFact({ file: 'f.ts', member: 'go' }, read, none)).toEqual([]);
    expect(checkFact({ file: 'f.ts', member: 'g' }, read, none)).toEqual(['f.ts defines no member g']);
    expect(checkFact({ file: 'f.ts', member: 'call' }, read, none)).toEqual(['f.ts defines no member call']);
    expect(checkFact({ file: 'f.ts', cls: 'C', implements: 'P' }, read, none)).toEqual([]);
    expect(checkFact({ file: 'f.ts', cls: 'C', implements: 'Q' }, read, none)).toEqual([
      'f.ts has no class C implementing Q',
    ]);
    expect(checkFact({ file: 'f.ts', uses: 'use' }, read, none)).toEqual([]);
    expect(checkFact({ file: 'f.ts', imports: 'g.ts' }, read, new Set(['f.ts>g.ts']))).toEqual([]);
    expect(checkFact({ file: 'f.ts', imports: 'g.ts' }, read, none)).toEqual(['f.ts does not import g.ts']);
    expect(checkFact({ file: 'x.ts', uses: 'y' }, read, none)).toEqual(['x.ts does not exist']);
  });
});
