import { ConnectError } from '@connectrpc/connect';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../../../domain/model/duration.js';
import type { KeyVersionInfo } from '../../../domain/model/key-version.js';
import {
  FORCE_OVERRIDES,
  type RetireOutcome,
  type RetireRefusal,
  type ScanEvidence,
  type ServingKey,
} from '../../../domain/model/retire-decision.js';
import type { CliApp, CliFlags, RetireRequest } from './cli-app.js';
import { SCAN_TIMEOUT_MS, scanProgress, splitEtcdFlags, str, withEtcdFlags } from './etcd-flags.js';
import { outputOpt, positiveIntArg, withConfigFlags } from './options.js';
import { chooseFace, type Face, keyValues, paint } from './output.js';
import { readSavedScan, SavedScanError } from './saved-scan.js';
import { formatUsage } from './usage-command.js';

/** Exit code of a refusal: the gate said no (1 is an error such as an unreachable etcd, 2 a bad configuration). */
const EXIT_REFUSED = 3;
/**
 * How old a scan may be by default: long enough to scan a large cluster and
 * read the result, short against the runbook's 10-minute wait after a
 * rotation (docs/operations.md#rotation-runbook).
 */
const DEFAULT_MAX_AGE = '15m';
/** As `kleidi status`'s default deadline, with room for a loaded node. */
const STATUS_TIMEOUT_MS = 5_000;

const HELP = `
Retires an old key-encryption key version only when a usage scan of etcd (as
\`kleidi usage\`) shows no object stored under its key_id, and the version is
neither current nor staged. Otherwise it refuses, prints the scan and every
reason, changes nothing and exits ${EXIT_REFUSED}.

Where the scan comes from:
  --etcd-servers …     a fresh scan now, of every resource (kube-apiserver's --etcd-* flags)
  --scan FILE          a saved \`kleidi usage --output json\` of every resource (no --resources),
                       refused when older than --max-scan-age

What the scan must be, even with --force: present, dated, not older than --max-scan-age
(its age counts from when it started), of every resource. A scan is a snapshot: an object
written under the version after it was taken is not in it; only a version older than the
current one can be retired, and the apiserver writes new objects under the current key_id
only, once it has seen it (docs/adr/0023-retire-gated-by-a-fresh-scan.md). --socket asks a
running kleidi (repeat it for several) and refuses while it still reports the version, or an
older one, as current; on several control-plane nodes check each with \`kleidi status\`.

--force retires although the scan shows objects under the version, objects whose key_id it
could not read, or no object under any of this backend's key_ids: that data becomes
unreadable. Use it only for data you accept to lose (e.g. resources already deleted).

What retire does depends on the backend (docs/operations.md#kleidi-retire-remove-an-old-key-version);
the local keyring writes a backup of the file first.

Exit codes: 0 retired, ${EXIT_REFUSED} refused (nothing changed), 2 bad flags or configuration,
1 any other failure (etcd unreachable, wrong certificates, backend error; nothing retired).
`;

/**
 * `kleidi retire VERSION`. The decision is the domain's (domain/model/retire-decision.ts);
 * this parses the request, reads a saved scan, and prints the verdict with the scan.
 */
export function registerRetire<C>(
  program: Command,
  app: CliApp<C>,
  config: (flags: CliFlags) => C,
  backendHelp: string,
  exit: (code: number) => void,
): void {
  withEtcdFlags(
    withConfigFlags(
      program
        .command('retire')
        .argument(
          '<version>',
          'the key version to retire (kleidi keys lists them)',
          positiveIntArg('a key version number'),
        )
        .description('retire an old key version, only when a fresh etcd scan shows no object under it'),
      { backend: backendHelp, stateDir: 'kleidi state directory (local keyring lives here)' },
    ),
    false,
  )
    .option('--scan <file>', 'a saved `kleidi usage --output json` instead of scanning now')
    .addOption(
      new Option('--max-scan-age <duration>', 'refuse a scan older than this (e.g. 15m, 1h)')
        .argParser(durationArg)
        .default(DEFAULT_MAX_AGE),
    )
    .addOption(
      new Option(
        '--socket <endpoint>',
        "a running kleidi's socket (repeatable): refuse unless its current key id is newer than the version",
      ).argParser((v: string, prev: string[] = []) => [...prev, v]),
    )
    .option('--force', 'retire although the scan shows objects that may depend on the version (they are lost)')
    .addOption(outputOpt())
    .addHelpText('after', HELP)
    .action(async (version: number, flags: CliFlags) => {
      const f = chooseFace(str(flags.output), process.stdout, process.env);
      const { etcd, rest } = splitEtcdFlags(flags);
      const { output: _o, scan: scanFile, maxScanAge, force, socket, ...settings } = rest;
      const file = str(scanFile);
      if ((file === undefined) === (etcd.etcd.servers.length === 0)) {
        process.stderr.write('kleidi retire: give either --etcd-servers (scan now) or --scan FILE (a saved scan)\n');
        exit(2);
        return;
      }
      let scan: RetireRequest['scan'];
      if (file === undefined) scan = { saved: false, etcd };
      else {
        try {
          scan = { saved: true, file, report: await readSavedScan(file) };
        } catch (err) {
          if (!(err instanceof SavedScanError)) throw err;
          process.stderr.write(`kleidi retire: ${err.message}\n`);
          exit(2);
          return;
        }
      }
      let serving: ServingKey[];
      try {
        serving = await servingKeys(Array.isArray(socket) ? socket.map(String) : []);
      } catch (err) {
        process.stderr.write(`kleidi retire: ${err instanceof Error ? err.message : String(err)}; nothing retired\n`);
        exit(1);
        return;
      }
      const progress = scanProgress('retire');
      if (!scan.saved) scan = { saved: false, etcd: { ...scan.etcd, onProgress: progress.show } };
      const req: RetireRequest = {
        version,
        force: force === true,
        maxScanAgeMs: typeof maxScanAge === 'number' ? maxScanAge : (parseDuration(DEFAULT_MAX_AGE) ?? 0),
        serving,
        scan,
      };
      let outcome: RetireOutcome;
      try {
        outcome = await app.retire(config(settings), req, AbortSignal.timeout(SCAN_TIMEOUT_MS));
      } finally {
        progress.done();
      }
      process.stdout.write(formatRetire(f, outcome, req, new Date()));
      exit(outcome.retired ? 0 : EXIT_REFUSED);
    });
}

/** Status of each plugin socket: the key_id its apiserver writes new objects under. */
async function servingKeys(sockets: readonly string[]): Promise<ServingKey[]> {
  if (sockets.length === 0) return [];
  // Loaded only when asked, as for `kleidi status` (diagnostics.ts).
  const { kmsClient } = await import('./kms-client.js');
  const out: ServingKey[] = [];
  for (const where of sockets) {
    try {
      const s = await kmsClient(where).client.status({}, { timeoutMs: STATUS_TIMEOUT_MS });
      out.push({ where, keyId: s.keyId });
    } catch (err) {
      throw new Error(`${where}: ${ConnectError.from(err).message}`);
    }
  }
  return out;
}

function durationArg(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('a duration such as 15m or 1h');
  return ms;
}

/** The verdict: JSON with the scan, or the scan's tables followed by what was done or why not. */
function formatRetire(face: Face, o: RetireOutcome, req: RetireRequest, now: Date): string {
  const d = o.decision;
  const target = d.target;
  if (face.format === 'json') {
    return `${JSON.stringify(
      {
        backend: o.backend,
        version: req.version,
        ...(target ? { keyId: target.keyId } : {}),
        retired: o.retired !== undefined,
        ...(o.retired ? { action: o.retired.action, ...(o.retired.backup ? { backup: o.retired.backup } : {}) } : {}),
        ...(d.allowed ? { overridden: d.overridden } : { refusals: d.refusals }),
        ...(req.scan.saved ? { scanFile: req.scan.file } : {}),
        ...(o.scan ? { scan: o.scan } : {}),
      },
      null,
      2,
    )}\n`;
  }
  let out = '';
  if (o.scan) out += `${formatUsage(face, { scannedAt: '', onlyResources: [], ...o.scan })}\n`;
  if (o.scan) out += `${scanLine(o.scan, req, now)}\n`;
  const name = `version ${req.version}${target ? ` (${target.keyId})` : ''}`;
  if (!d.allowed || !o.retired) {
    out += `${paint(face, 'red', `refused: ${name} of backend ${o.backend} was not retired; nothing changed`)}\n`;
    for (const r of d.allowed ? [] : d.refusals) out += `  - ${explain(r, target, req.force)}\n`;
    return out;
  }
  out += `${paint(face, 'green', `retired ${name} of backend ${o.backend}`)}\n`;
  out += keyValues(face, [
    ['action', o.retired.action],
    ['backup', o.retired.backup],
  ]);
  for (const r of d.overridden) out += `${paint(face, 'yellow', `  --force set aside: ${givenUp(r)}`)}\n`;
  return out;
}

function scanLine(s: ScanEvidence, req: RetireRequest, now: Date): string {
  const from = req.scan.saved ? `saved scan ${req.scan.file}` : 'scan';
  const at = s.scannedAt === undefined ? 'at an unrecorded time' : `started ${s.scannedAt}`;
  const taken = Date.parse(s.scannedAt ?? '');
  const age = Number.isNaN(taken) ? '' : ` (${minutes(now.getTime() - taken)} ago)`;
  return `${from}: ${at}${age}, at etcd revision ${s.revision}`;
}

/** One refusal in an operator's words, with what to do about it. */
function explain(r: RetireRefusal, target: KeyVersionInfo | undefined, force: boolean): string {
  const forceHint = FORCE_OVERRIDES.has(r.kind) && !force ? '; --force retires anyway and that data is lost' : '';
  switch (r.kind) {
    case 'unknown-version':
      return 'the backend lists no such version (kleidi keys lists them)';
    case 'current':
      return 'it is the current version: the apiserver writes new objects under it; rotate first';
    case 'staged':
      return 'it is staged, about to become current: promote it, rotate later, and retire it then';
    case 'retired':
      return 'it is already retired';
    case 'older-live':
      return `this backend retires versions oldest first: retire version ${r.versions.join(', ')} first`;
    case 'plugin-behind':
      return r.version === undefined
        ? `the plugin at ${r.where} reports key_id ${r.keyId} as current, which this backend does not list: is it using another keyring?`
        : `the plugin at ${r.where} still reports version ${r.version} (${r.keyId}) as current: its apiserver may write under it; wait until it has picked up the rotation (kleidi status)`;
    case 'no-scan':
      return 'there is no scan: nothing proves the version holds nothing';
    case 'scan-undated':
      return 'the scan does not say when it was taken (made by an older kleidi): scan again';
    case 'scan-too-old':
      return `the scan is ${minutes(r.ageMs)} old, more than --max-scan-age ${minutes(r.maxAgeMs)}: scan again`;
    case 'scan-in-future':
      return `the scan is dated ${minutes(r.aheadMs)} in the future: check the clocks, and scan again`;
    case 'scan-partial':
      return `the scan read only ${r.onlyResources.join(', ')}: objects of other resources may be under the version; scan every resource`;
    case 'objects-remaining':
      return `${r.count} objects are still stored under ${r.keyId} (${counts(r.resources)}): rewrite them (docs/operations.md#rotation-runbook) and retire again${forceHint}`;
    case 'unattributed':
      return `${r.count} objects could not be attributed to a key_id (${counts(r.resources)}); any may be under ${target?.keyId ?? 'the version'}${forceHint}`;
    case 'no-kleidi-data':
      return `the scan of ${r.scanned} objects under ${r.prefix} found none under any of this backend's key_ids: the wrong etcd or --etcd-prefix?${forceHint}`;
  }
}

/** A refusal --force set aside, as what was given up. */
function givenUp(r: RetireRefusal): string {
  switch (r.kind) {
    case 'objects-remaining':
      return `${r.count} objects stored under ${r.keyId} (${counts(r.resources)}) can no longer be read`;
    case 'unattributed':
      return `${r.count} objects whose key_id the scan could not read (${counts(r.resources)}) may no longer be readable`;
    default:
      return explain(r, undefined, true);
  }
}

const counts = (rs: readonly { resource: string; count: number; reason?: string }[]): string =>
  rs.map((r) => `${r.resource} ${r.count}${r.reason ? `: ${r.reason}` : ''}`).join(', ');

/** 90 s → "1.5 min". */
function minutes(ms: number): string {
  return ms < 60_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 60_000).toFixed(1)} min`;
}
