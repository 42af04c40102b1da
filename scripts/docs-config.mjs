#!/usr/bin/env node
// Regenerates the settings reference in docs/configuration.md from the zod
// schemas and the CLI flags (between the GENERATED markers), so the doc
// cannot drift from the code. Runs on the build output: `npm run docs:config`.
// `--check` only compares and exits 1 on a difference (for CI).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildCli } from '../dist/composition/cli.js';
import { settingsReference, withSettingsReference } from '../dist/composition/config/reference.js';

const doc = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
const serve = buildCli({}, () => undefined).commands.find((c) => c.name() === 'serve');
if (!serve) throw new Error('the CLI has no serve command');
const before = existsSync(doc) ? readFileSync(doc, 'utf8') : '# Configuration\n';
const after = withSettingsReference(before, settingsReference(serve));
if (process.argv.includes('--check')) {
  if (after !== before) {
    console.error('docs/configuration.md is out of date: run `npm run docs:config` and commit the result');
    process.exit(1);
  }
} else if (after !== before) {
  writeFileSync(doc, after);
  console.log('docs/configuration.md: settings reference updated');
} else {
  console.log('docs/configuration.md: settings reference is current');
}
