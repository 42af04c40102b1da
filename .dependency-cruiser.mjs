/**
 * What `npm run deps:check` runs: the static hexagonal rules of
 * .dependency-cruiser.cjs plus the per-backend library rules, generated from
 * the backend registry (tools/backend-rules.ts), so a new backend is covered
 * with no edit here. Loading the registry needs Node's TypeScript support:
 * package.json runs dependency-cruiser under `node --experimental-transform-types`
 * with test/support/ts-child-hooks.mjs.
 */
import { createRequire } from 'node:module';
import { backends } from './src/composition/backends/index.ts';
import { backendLibraryRules } from './tools/backend-rules.ts';

const base = createRequire(import.meta.url)('./.dependency-cruiser.cjs');

/** @type {import('dependency-cruiser').IConfiguration} */
export default { ...base, forbidden: [...base.forbidden, ...backendLibraryRules(backends)] };
