/**
 * The hexagonal rules, enforced in CI (`npm run deps:check`). See
 * docs/architecture.md: domain is pure, ports are types, adapters never know
 * each other, and only the composition root knows inversify, zod, pino and
 * commander.
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
      severity: 'error',
      from: { path: '^src/ports/' },
      to: { pathNot: '^src/(ports|domain/model)/' },
    },
    {
      name: 'ports-import-types-only',
      severity: 'error',
      from: { path: '^src/(ports|domain/services)/' },
      to: { path: '^src/ports/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'composition-libraries-only-in-composition',
      comment: 'inversify, reflect-metadata, zod, pino, commander, yaml live in src/composition',
      severity: 'error',
      from: { pathNot: '^src/composition/' },
      to: { path: 'node_modules/(inversify|@inversifyjs|reflect-metadata|zod|pino|commander|yaml)/' },
    },
    {
      name: 'rpc-libraries-only-at-the-inbound-edge',
      severity: 'error',
      from: { pathNot: '^src/(adapters/inbound/grpc|composition)/' },
      to: { path: 'node_modules/(@grpc|@connectrpc)/' },
    },
    {
      name: 'pkcs11-libraries-only-in-the-pkcs11-adapter',
      severity: 'error',
      from: { pathNot: '^src/adapters/outbound/pkcs11/' },
      to: { path: 'node_modules/(graphene-pk11|pkcs11js)/' },
    },
    {
      name: 'node-vault-only-in-the-vault-adapter',
      severity: 'error',
      from: { pathNot: '^src/adapters/outbound/vault-transit/' },
      to: { path: 'node_modules/node-vault/' },
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
      comment: 'an adapter may use its own folder and the shared crypto library, never another adapter',
      severity: 'error',
      from: { path: '^src/adapters/outbound/([^/]+)/' },
      to: { path: '^src/adapters/', pathNot: ['^src/adapters/outbound/$1/', '^src/adapters/outbound/shared/'] },
    },
    {
      name: 'shared-library-knows-no-adapter',
      severity: 'error',
      from: { path: '^src/adapters/outbound/shared/' },
      to: { path: '^src/adapters/', pathNot: '^src/adapters/outbound/shared/' },
    },
    {
      name: 'inbound-does-not-know-outbound',
      severity: 'error',
      from: { path: '^src/adapters/inbound/' },
      to: { path: '^src/adapters/outbound/' },
    },
    {
      name: 'adapters-do-not-reach-into-composition',
      severity: 'error',
      from: { path: '^src/(domain|ports|adapters)/' },
      to: { path: '^src/composition/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
