import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildCli } from '#src/adapters/inbound/cli/cli.js';
import { cliApp } from '#src/composition/cli-app.js';
import { BaseConfigSchema } from '#src/composition/config/schema.js';
import { BEGIN_MARKER, END_MARKER, settingsReference, withSettingsReference } from '../../../tools/config-reference.js';

const serve = buildCli(cliApp({}), () => undefined).commands.find((c) => c.name() === 'serve');
if (!serve) throw new Error('no serve command');
const reference = settingsReference(serve);
const DOC = new URL('../../../docs/configuration.md', import.meta.url);

describe('the configuration reference', () => {
  it('in docs/configuration.md matches the schema (run `npm run docs:config` after changing settings)', () => {
    const doc = readFileSync(DOC, 'utf8');
    expect(doc).toContain(BEGIN_MARKER);
    expect(withSettingsReference(doc, reference)).toBe(doc);
  });

  it('lists every shared setting with its env var, and every serve flag', () => {
    for (const key of Object.keys(BaseConfigSchema.shape)) expect(reference).toContain(`| \`${key}\` |`);
    for (const o of serve.options) {
      if (o.long && o.long !== '--config') expect(reference, o.long).toContain(`\`${o.long}\``);
    }
    expect(reference).toContain(
      '| `httpAddress` | `KLEIDI_HTTP_ADDRESS` | `--http-address` | string | `127.0.0.1:8181` |',
    );
    expect(reference).toContain('| `refreshInterval` | `KLEIDI_REFRESH_INTERVAL` | `--refresh-interval` | duration');
    expect(reference).toContain('| `socketMode` | `KLEIDI_SOCKET_MODE` | `--socket-mode` | octal file mode | `0600` |');
  });

  it('replaces only the text between the markers, and appends a section when there is none', () => {
    const doc = `# Configuration\n\nintro\n\n${BEGIN_MARKER}\nstale\n${END_MARKER}\n\nafter\n`;
    const out = withSettingsReference(doc, 'fresh');
    expect(out).toBe(`# Configuration\n\nintro\n\n${BEGIN_MARKER}\nfresh\n${END_MARKER}\n\nafter\n`);
    expect(withSettingsReference('# Configuration\n', 'x')).toBe(
      `# Configuration\n\n## Settings reference\n\n${BEGIN_MARKER}\nx\n${END_MARKER}\n`,
    );
  });
});
