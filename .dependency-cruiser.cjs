/**
 * The hexagonal rules, enforced in CI (`npm run deps:check`). See
 * docs/architecture.md and docs/adr/0008-composition-is-wiring-only.md:
 * domain is pure, ports are types, adapters never know each other, only the
 * composition root knows inversify, zod and yaml, and each other library stays
 * in the one adapter that wraps it (commander in the CLI, pino in logging).
 *
 * These are the static rules. `npm run deps:check` runs .dependency-cruiser.mjs,
 * which adds each backend's library rules, generated from the backend registry.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-model-is-pure',
      comment: 'domain/model imports only domain/model',
      severity: 'error',
      from: { path: '^src/domain/model' },
      to: { pathNot: '^src/domain/model' },
    },
    {
      name: 'domain-services-see-model-and-ports-only',
      comment: 'use cases depend on the model and (type-only) on ports',
      severity: 'error',
      from: { path: '^src/domain/services' },
      to: { pathNot: '^src/(domain|ports)/' },
    },
    {
      name: 'domain-and-ports-runtime-free',
      comment: 'no node:* and no npm packages in domain or ports',
      severity: 'error',
      from: { path: '^src/(domain|ports)/' },
      to: { dependencyTypes: ['core', 'npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'ports-are-types-of-the-domain',
      comment: 'ports speak domain types (KeyId, WrappedKey, Uint8Array), never generated proto types or library types',
      severity: 'error',
      from: { path: '^src/ports/' },
      to: { pathNot: '^src/(ports|domain/model)/' },
    },
    {
      name: 'ports-import-types-only',
      comment: 'ports have no runtime presence; services depend on the contract, not on a module',
      severity: 'error',
      from: { path: '^src/(ports|domain/services)/' },
      to: { path: '^src/ports/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'composition-libraries-only-in-composition',
      comment: 'inversify, reflect-metadata and zod (the container and config validation) live in src/composition',
      severity: 'error',
      from: { pathNot: '^src/composition/' },
      to: { path: 'node_modules/(inversify|@inversifyjs|reflect-metadata|zod)/' },
    },
    {
      name: 'yaml-only-in-composition-and-doctor',
      comment:
        "yaml reads kleidi's config file (src/composition) and, in `kleidi doctor`, the apiserver manifests and " +
        'EncryptionConfiguration it inspects (src/adapters/inbound/cli/doctor/); `kleidi reencrypt` reads ' +
        'kubeconfig files with it (src/adapters/outbound/kubernetes/, ADR 0019)',
      severity: 'error',
      from: {
        pathNot: ['^src/composition/', '^src/adapters/inbound/cli/doctor/', '^src/adapters/outbound/kubernetes/'],
      },
      to: { path: 'node_modules/yaml/' },
    },
    {
      name: 'commander-only-in-the-cli',
      comment: 'the command line is an inbound adapter (ADR 0008)',
      severity: 'error',
      from: { pathNot: '^src/adapters/inbound/cli/' },
      to: { path: 'node_modules/commander/' },
    },
    {
      name: 'pino-only-in-the-logging-adapter',
      comment: 'pino implements the Logger port in its outbound adapter (ADR 0008)',
      severity: 'error',
      from: { pathNot: '^src/adapters/outbound/logging/' },
      to: { path: 'node_modules/(pino|pino-[^/]+|sonic-boom|thread-stream)/' },
    },
    {
      name: 'rpc-libraries-only-where-grpc-is-spoken',
      comment:
        'the gRPC server, the CLI diagnostics client that checks it from outside, and the etcd v3 client of ' +
        '`kleidi usage` (src/adapters/outbound/etcd/, docs/adr/0018-key-usage-scan.md)',
      severity: 'error',
      from: { pathNot: ['^src/adapters/inbound/(grpc|cli)/', '^src/adapters/outbound/etcd/'] },
      to: { path: 'node_modules/(@grpc|@connectrpc)/' },
    },
    {
      name: 'adapters-use-the-model-not-the-use-cases',
      comment: 'adapters may use domain/model and the pure abort helper, never a use case',
      severity: 'error',
      from: { path: '^src/adapters/' },
      to: { path: '^src/domain/services/', pathNot: '^src/domain/services/abortable[.]ts$' },
    },
    {
      name: 'outbound-adapters-do-not-know-each-other',
      comment: 'an adapter may use its own folder and the shared helpers, never another adapter',
      severity: 'error',
      from: { path: '^src/adapters/outbound/([^/]+)/' },
      to: { path: '^src/adapters/', pathNot: ['^src/adapters/outbound/$1/', '^src/adapters/outbound/shared/'] },
    },
    {
      name: 'shared-library-knows-no-adapter',
      comment:
        'shared/ holds helpers the adapters use (secret files, backoff, errno, file stamps, AES-GCM), not an adapter',
      severity: 'error',
      from: { path: '^src/adapters/outbound/shared/' },
      to: { path: '^src/adapters/', pathNot: '^src/adapters/outbound/shared/' },
    },
    {
      name: 'inbound-adapters-do-not-know-each-other',
      severity: 'error',
      from: { path: '^src/adapters/inbound/([^/]+)/', pathNot: '^src/adapters/inbound/cli/' },
      to: { path: '^src/adapters/inbound/', pathNot: '^src/adapters/inbound/$1/' },
    },
    {
      name: 'the-cli-knows-only-the-kms-contract-of-grpc',
      comment:
        'the CLI diagnostics client uses the KMS API the gRPC adapter generates (gen/) and its endpoint ' +
        'syntax, the contract both ends of the socket share; nothing else of another inbound adapter',
      severity: 'error',
      from: { path: '^src/adapters/inbound/cli/' },
      to: {
        path: '^src/adapters/inbound/',
        pathNot: [
          '^src/adapters/inbound/cli/',
          '^src/adapters/inbound/grpc/gen/',
          '^src/adapters/inbound/grpc/endpoint[.]ts$',
        ],
      },
    },
    {
      name: 'inbound-does-not-know-outbound',
      comment: 'the gRPC and HTTP edges reach backends only through the domain',
      severity: 'error',
      from: { path: '^src/adapters/inbound/' },
      to: { path: '^src/adapters/outbound/' },
    },
    {
      name: 'adapters-do-not-reach-into-composition',
      comment: 'dependencies point inwards; the composition root is the outermost layer',
      severity: 'error',
      from: { path: '^src/(domain|ports|adapters)/' },
      to: { path: '^src/composition/' },
    },
    {
      name: 'no-circular',
      comment: 'cycles make load order and teardown order undefined',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      comment:
        'a module nothing imports is dead code; main.ts is the entry point, and generated protobuf ' +
        'code is kept whole even where kleidi uses only part of it',
      severity: 'error',
      from: {
        orphan: true,
        pathNot: ['^src/main[.]ts$', '^src/adapters/inbound/grpc/gen/', '[.]d[.]ts$'],
      },
      to: {},
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
    {
      name: 'not-to-dev-dep',
      comment: 'src ships: it may not import a devDependency (npm ci --omit=dev leaves them out)',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-non-package-json',
      comment: 'every package src imports is declared in package.json, not merely present in node_modules',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
