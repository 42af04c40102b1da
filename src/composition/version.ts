import { readFileSync } from 'node:fs';

/** Version facts for `kleidi version` and the startup log. */
export function versionInfo(): { kleidi: string; node: string; kmsApi: string } {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return { kleidi: pkg.version ?? 'unknown', node: process.version, kmsApi: 'v2' };
}
