// Regenerates the settings reference in docs/configuration.md from the zod
// schemas and the CLI flags (between the GENERATED markers), so the doc
// cannot drift from the code. `npm run docs:config` runs it on the sources
// (through test/support/ts-child-hooks.mjs, no build needed).
// `--check` only compares and exits 1 on a difference (for CI).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildCli } from '#src/adapters/inbound/cli/cli.js';
import { cliApp } from '#src/composition/cli-app.js';
import { settingsReference, withSettingsReference } from './config-reference.js';

const doc = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
// The CLI only lists its commands and flags here: nothing runs, so an empty environment does.
const serve = buildCli(cliApp({}), () => undefined).commands.find((c) => c.name() === 'serve');
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
