import { readFileSync } from 'node:fs';

/**
 * kleidi's package.json: the first one above this module. From the bundle that `npm run build`
 * ships (dist/main.js) it is one level up; from the compiled modules (dist/composition/version.js)
 * and the sources, two (docs/adr/0015-single-file-bundle.md).
 */
function packageJson(): { version?: string } {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'kleidi') return pkg;
    } catch {
      // Not at this level: try the next one.
    }
  }
  return {};
}

/** Version facts for `kleidi version` and the startup log. */
export function versionInfo(): { kleidi: string; node: string; kmsApi: string } {
  return { kleidi: packageJson().version ?? 'unknown', node: process.version, kmsApi: 'v2' };
}
