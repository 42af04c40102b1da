import type { Command } from 'commander';
import type { UsageReport } from '../../../domain/model/usage.js';
import type { CliApp, CliFlags, UsageOutcome, UsageRequest } from './cli-app.js';
import { list, SCAN_TIMEOUT_MS, scanProgress, splitEtcdFlags, withEtcdFlags } from './etcd-flags.js';
import { outputOpt, withConfigFlags } from './options.js';
import { chooseFace, type Cell, type Face, paint, table } from './output.js';

/**
 * `kleidi usage`: which providers and key_ids the objects in etcd depend on,
 * per resource, and which of kleidi's key versions hold no data. Read-only.
 * SECURITY: the etcd client key is a path, read as a secret file; nothing
 * printed is key material or a stored value.
 */
export function registerUsage<C>(
  program: Command,
  app: CliApp<C>,
  config: (flags: CliFlags) => C,
  backendHelp: string,
  exit: (code: number) => void,
): void {
  withEtcdFlags(
    withConfigFlags(
      program
        .command('usage')
        .description(
          'scan etcd (read-only) and report, per resource, the providers and key ids its objects are stored under',
        ),
      { backend: backendHelp, stateDir: 'kleidi state directory (to name the version of each key id)' },
    ),
    true,
  )
    .option('--resources <list>', 'only these resources, e.g. secrets,configmaps (default: every resource)')
    .option('--no-keys', "do not open the backend to name kleidi's version of each key id")
    .addOption(outputOpt())
    .action(async (flags: CliFlags) => {
      const f = chooseFace(typeof flags.output === 'string' ? flags.output : undefined, process.stdout, process.env);
      const { settings, req } = split(flags);
      const progress = scanProgress('usage');
      let outcome: UsageOutcome;
      try {
        outcome = await app.usage(
          config(settings),
          { ...req, onProgress: progress.show },
          AbortSignal.timeout(SCAN_TIMEOUT_MS),
        );
      } finally {
        progress.done();
      }
      if (outcome.keysUnavailable !== undefined) {
        process.stderr.write(`kleidi usage: key versions not shown: ${outcome.keysUnavailable}\n`);
      }
      process.stdout.write(formatUsage(f, outcome.report));
      exit(0);
    });
}

/** The command's own flags (the request) apart from the configuration's (the backend). */
function split(flags: CliFlags): { settings: CliFlags; req: UsageRequest } {
  const { etcd, rest } = splitEtcdFlags(flags);
  const { output: _output, resources, keys, ...settings } = rest;
  return { settings, req: { ...etcd, resources: list(resources), withKeys: keys !== false } };
}

/** The report as JSON, or as two tables: per resource, then per key id with kleidi's unused versions. */
export function formatUsage(face: Face, r: UsageReport): string {
  if (face.format === 'json') return `${JSON.stringify(r, null, 2)}\n`;
  const head = `etcd ${r.prefix} at revision ${r.revision}: ${r.scanned} objects in ${(r.elapsedMs / 1000).toFixed(1)} s\n`;
  if (r.scanned === 0) return `${head}no objects\n`;
  const rows: Cell[][] = [];
  for (const res of r.resources) {
    for (const c of res.cells) {
      rows.push([
        res.resource,
        c.kind === 'identity' || c.kind === 'unknown' ? { text: c.kind, tone: 'yellow' } : c.kind,
        c.provider ?? '-',
        c.keyId ?? c.reason ?? '-',
        c.version === undefined ? '-' : `${c.version}${c.current ? ' (current)' : ''}`,
        String(c.count),
      ]);
    }
  }
  let out = `${head}\n${table(face, rows, ['RESOURCE', 'STORED AS', 'PROVIDER', 'KEY ID', 'VERSION', 'OBJECTS'])}`;
  const keyRows: Cell[][] = r.keyIds.map((k) => [
    k.keyId,
    k.provider,
    k.version === undefined ? '-' : String(k.version),
    k.current ? { text: 'yes', tone: 'green' } : '',
    String(k.count),
  ]);
  for (const v of r.unusedVersions) {
    keyRows.push([
      v.keyId,
      '-',
      String(v.version),
      v.current ? { text: 'yes', tone: 'green' } : '',
      { text: '0', tone: 'dim' },
    ]);
  }
  if (keyRows.length > 0) out += `\n${table(face, keyRows, ['KEY ID', 'PROVIDER', 'VERSION', 'CURRENT', 'OBJECTS'])}`;
  if (r.unusedVersions.some((v) => !v.current)) {
    out += `\n${paint(face, 'dim', 'a version with 0 objects and not current protects nothing in this scan')}\n`;
  }
  return out;
}
