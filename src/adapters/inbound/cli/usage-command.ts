import { type Command, Option } from 'commander';
import type { UsageReport } from '../../../domain/model/usage.js';
import type { CliApp, CliFlags, UsageOutcome, UsageRequest } from './cli-app.js';
import { outputOpt, positiveIntArg, withConfigFlags } from './options.js';
import { chooseFace, type Cell, type Face, paint, table } from './output.js';

/** How long a scan may take before it gives up: a store of millions of keys at the default rate fits. */
const SCAN_TIMEOUT_MS = 6 * 60 * 60_000;
/**
 * Keys a second by default: well under what one etcd member serves
 * (https://etcd.io/docs/v3.6/op-guide/performance/ measures tens of
 * thousands of reads a second), so the apiserver's own reads keep their share.
 */
const DEFAULT_RATE = 5_000;
const DEFAULT_PAGE = 500;
const positiveInt = positiveIntArg('a positive integer');

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
  withConfigFlags(
    program
      .command('usage')
      .description(
        'scan etcd (read-only) and report, per resource, the providers and key ids its objects are stored under',
      ),
    { backend: backendHelp, stateDir: 'kleidi state directory (to name the version of each key id)' },
  )
    .addOption(
      new Option('--etcd-servers <urls>', "comma-separated, as kube-apiserver's --etcd-servers").makeOptionMandatory(),
    )
    .option('--etcd-cafile <file>', "as kube-apiserver's --etcd-cafile")
    .option('--etcd-certfile <file>', "as kube-apiserver's --etcd-certfile")
    .option('--etcd-keyfile <file>', "as kube-apiserver's --etcd-keyfile (a path; mode 0600, owned by this user)")
    .option('--etcd-prefix <prefix>', "as kube-apiserver's --etcd-prefix", '/registry')
    .option('--resources <list>', 'only these resources, e.g. secrets,configmaps (default: every resource)')
    .addOption(
      new Option('--rate <keys/s>', 'read at most this many keys a second')
        .argParser(positiveInt)
        .default(DEFAULT_RATE),
    )
    .addOption(new Option('--page-size <n>', 'keys per etcd request').argParser(positiveInt).default(DEFAULT_PAGE))
    .option('--no-keys', "do not open the backend to name kleidi's version of each key id")
    .addOption(outputOpt())
    .action(async (flags: CliFlags) => {
      const f = chooseFace(typeof flags.output === 'string' ? flags.output : undefined, process.stdout, process.env);
      const { settings, req } = split(flags);
      const progress = process.stderr.isTTY ? progressLine() : progressLines();
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
  const {
    output: _output,
    etcdServers,
    etcdCafile,
    etcdCertfile,
    etcdKeyfile,
    etcdPrefix,
    resources,
    rate,
    pageSize,
    keys,
    ...settings
  } = flags;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const list = (v: unknown): string[] =>
    (str(v) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const caFile = str(etcdCafile);
  const certFile = str(etcdCertfile);
  const keyFile = str(etcdKeyfile);
  return {
    settings,
    req: {
      etcd: {
        servers: list(etcdServers),
        ...(caFile ? { caFile } : {}),
        ...(certFile ? { certFile } : {}),
        ...(keyFile ? { keyFile } : {}),
      },
      prefix: str(etcdPrefix) ?? '/registry',
      resources: list(resources),
      pageSize: typeof pageSize === 'number' ? pageSize : DEFAULT_PAGE,
      maxKeysPerSecond: typeof rate === 'number' ? rate : DEFAULT_RATE,
      withKeys: keys !== false,
    },
  };
}

/** The report as JSON, or as two tables: per resource, then per key id with kleidi's unused versions. */
function formatUsage(face: Face, r: UsageReport): string {
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

interface Progress {
  show(scanned: number, revision: number): void;
  done(): void;
}

/** "scanned N objects" on one terminal line, rewritten at most ten times a second. */
function progressLine(): Progress {
  let last = 0;
  let shown = false;
  return {
    show: (n, revision) => {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      shown = true;
      process.stderr.write(`\rscanned ${n} objects at etcd revision ${revision}`);
    },
    done: () => {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

/** Not on a terminal (a job's log): the revision once the first page is in, then a line every ten seconds. */
function progressLines(): Progress {
  const EVERY_MS = 10_000;
  let next = 0;
  return {
    show: (n, revision) => {
      const now = Date.now();
      if (next === 0) process.stderr.write(`kleidi usage: reading etcd at revision ${revision}\n`);
      else if (now < next) return;
      else process.stderr.write(`kleidi usage: scanned ${n} objects\n`);
      next = now + EVERY_MS;
    },
    done: () => undefined,
  };
}
