import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  type KubeResource,
  parseKubeResource,
  type ReencryptProgress,
  type ReencryptSummary,
  storedResourceName,
} from '../../../domain/model/reencrypt.js';
import type { UsageReport } from '../../../domain/model/usage.js';
import type { CliApp, CliFlags, UsageOutcome } from './cli-app.js';
import { outputOpt, positiveIntArg, withConfigFlags } from './options.js';
import { chooseFace, type Cell, type Face, paint, table } from './output.js';
import { duration, progressBar, progressLines } from './reencrypt-progress.js';

/**
 * Objects a second by default. Each object is one GET and one PUT, so 25
 * objects/s is 50 requests/s: a tenth of kube-apiserver's default
 * --max-requests-inflight (400) and --max-mutating-requests-inflight (200)
 * even if each took a full second, and API Priority and Fairness
 * (https://kubernetes.io/docs/concepts/cluster-administration/flow-control/)
 * queues it behind the cluster's own traffic before anything else suffers.
 */
const DEFAULT_RATE = 25;
const DEFAULT_PAGE = 500;
/** A SIGKILL makes a rerun rewrite at most this many objects again (docs/operations.md). */
const DEFAULT_CHECKPOINT_EVERY = 50;
const DEFAULT_STATE = 'kleidi-reencrypt.state.json';
/** The longest a run may take: millions of objects at the default rate. */
const RUN_TIMEOUT_MS = 48 * 60 * 60_000;
const positiveInt = positiveIntArg('a positive integer');
/** The shell's code for a command stopped by SIGINT (128 + 2). */
const INTERRUPTED = 130;

/**
 * `kleidi reencrypt`: every object of the encrypted resources read and written
 * back unchanged through kube-apiserver, so it is stored under the current key
 * (ADR 0019); then, with etcd flags, `kleidi usage` of the same resources.
 * SECURITY: credentials come from the kubeconfig or the service account,
 * never a flag; nothing printed is an object's content.
 */
export function registerReencrypt<C>(
  program: Command,
  app: CliApp<C>,
  config: (flags: CliFlags) => C,
  backendHelp: string,
  exit: (code: number) => void,
): void {
  withConfigFlags(
    program
      .command('reencrypt')
      .description(
        'rewrite every object of the encrypted resources through kube-apiserver (read, write back unchanged) so it is stored under the current key',
      )
      .addHelpText(
        'after',
        `
Connects like kubectl: --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else
the in-cluster service account; the identity needs list, get and update on the
resources. Each object is read (GET) and written back unchanged (PUT, same
resourceVersion): kube-apiserver encrypts every write with the current key. An
object changed meanwhile (409) is read again; one deleted meanwhile (404) is
skipped and counted; 429 and 5xx are retried with backoff (Retry-After honoured).

Progress is saved to the state file every --checkpoint-every objects. Ctrl-C
(SIGINT) finishes the object in flight, saves and exits ${INTERRUPTED}; a rerun with
the same state file resumes after the last object done (after a SIGKILL it
rewrites at most --checkpoint-every objects again). A finished run is recorded,
so the next run (after the next rotation) starts over; --restart ignores the file.

With --etcd-servers (and the other --etcd-* flags of kube-apiserver), a
\`kleidi usage\` scan of the same resources follows: no object should remain
under an old key_id. Without them the check is skipped; run \`kleidi usage\`.`,
      ),
    { backend: backendHelp, stateDir: 'kleidi state directory (to name the version of each key id in the check)' },
  )
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', "the kubeconfig's context (default: its current-context)")
    .addOption(
      new Option('--resources <list>', 'comma-separated resources, group-qualified beyond the core group')
        .argParser(resourceList)
        .default([SECRETS], 'secrets'),
    )
    .addOption(
      new Option('--rate <objects/s>', 'rewrite at most this many objects a second')
        .argParser(positiveInt)
        .default(DEFAULT_RATE),
    )
    .addOption(new Option('--page-size <n>', 'names per list request').argParser(positiveInt).default(DEFAULT_PAGE))
    .option('--dry-run', 'list and count what would be rewritten; write nothing', false)
    .option('--state <file>', 'progress checkpoint file', DEFAULT_STATE)
    .option('--restart', 'ignore the checkpoint and start from the first object', false)
    .addOption(
      new Option('--checkpoint-every <n>', 'save progress after this many objects')
        .argParser(positiveInt)
        .default(DEFAULT_CHECKPOINT_EVERY),
    )
    .option('--etcd-servers <urls>', "for the final usage check: as kube-apiserver's --etcd-servers")
    .option('--etcd-cafile <file>', "as kube-apiserver's --etcd-cafile")
    .option('--etcd-certfile <file>', "as kube-apiserver's --etcd-certfile")
    .option('--etcd-keyfile <file>', "as kube-apiserver's --etcd-keyfile (a path; mode 0600, owned by this user)")
    .option('--etcd-prefix <prefix>', "as kube-apiserver's --etcd-prefix", '/registry')
    .option('--no-keys', "do not open the backend to name kleidi's version of each key id in the check")
    .addOption(outputOpt())
    .action(async (flags: CliFlags) => {
      const f = chooseFace(typeof flags.output === 'string' ? flags.output : undefined, process.stdout, process.env);
      const { settings, o } = split(flags);
      const resources = o.resources;
      const stop = new AbortController();
      const hard = new AbortController();
      const timeout = setTimeout(() => hard.abort(new Error('the run timed out')), RUN_TIMEOUT_MS);
      timeout.unref();
      const onSigint = (): void => {
        if (!stop.signal.aborted) {
          process.stderr.write('\nkleidi reencrypt: stopping after the object in flight (Ctrl-C again to abort now)\n');
          stop.abort();
        } else hard.abort(new Error('aborted by a second Ctrl-C'));
      };
      process.on('SIGINT', onSigint);
      const progress = process.stderr.isTTY
        ? progressBar(
            (s) => process.stderr.write(s),
            () => process.stderr.columns ?? 80,
          )
        : progressLines((s) => process.stderr.write(s));
      let started = false;
      const show = (p: ReencryptProgress): void => {
        started = true;
        progress.show(p);
      };
      let summary: ReencryptSummary;
      try {
        summary = await app.reencrypt(
          {
            ...o.connection,
            resources,
            objectsPerSecond: o.rate,
            pageSize: o.pageSize,
            dryRun: o.dryRun,
            restart: o.restart,
            statePath: o.state,
            checkpointEvery: o.checkpointEvery,
            stop: stop.signal,
            onProgress: show,
          },
          hard.signal,
        );
      } catch (err) {
        progress.done();
        const why = err instanceof Error ? err.message : String(err);
        // Once objects were written, the checkpoint holds them: say so, and how to go on.
        const resume =
          started && !o.dryRun ? `\nprogress is saved in ${o.state}: run the same command again to resume` : '';
        if (!hard.signal.aborted) throw new Error(`reencrypt: ${why}${resume}`);
        process.stderr.write(`kleidi reencrypt: ${why}${resume}\n`);
        exit(INTERRUPTED);
        return;
      } finally {
        progress.done();
        process.off('SIGINT', onSigint);
        clearTimeout(timeout);
      }
      let check: UsageCheck = { skipped: 'no --etcd-servers' };
      if (summary.interrupted) check = { skipped: 'interrupted' };
      else if (summary.dryRun) check = { skipped: 'dry run' };
      else if (o.etcd)
        check = await app.usage(
          config(settings),
          {
            etcd: o.etcd,
            prefix: o.etcdPrefix,
            resources: resources.map(storedResourceName),
            pageSize: 500,
            maxKeysPerSecond: 5_000,
            withKeys: o.withKeys,
          },
          hard.signal,
        );
      process.stdout.write(formatReencrypt(f, summary, o.state, check, resources));
      exit(summary.interrupted ? INTERRUPTED : 0);
    });
}

const SECRETS = parseKubeResource('secrets') as KubeResource;

/** `--resources a,b.group`: each a resource name, core or group-qualified. */
function resourceList(value: string): KubeResource[] {
  const names = value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  if (names.length === 0) throw new InvalidArgumentError('name at least one resource');
  return names.map((name) => {
    const r = parseKubeResource(name);
    if (!r) throw new InvalidArgumentError(`${JSON.stringify(name)} is not a resource name`);
    return r;
  });
}

type UsageCheck = UsageOutcome | { readonly skipped: string };

interface Parsed {
  readonly connection: { kubeconfig?: string; context?: string };
  readonly resources: readonly KubeResource[];
  readonly rate: number;
  readonly pageSize: number;
  readonly dryRun: boolean;
  readonly restart: boolean;
  readonly state: string;
  readonly checkpointEvery: number;
  readonly etcd?: { servers: string[]; caFile?: string; certFile?: string; keyFile?: string };
  readonly etcdPrefix: string;
  readonly withKeys: boolean;
}

/** The command's own flags apart from the configuration's (the backend, for the usage check). */
function split(flags: CliFlags): { settings: CliFlags; o: Parsed } {
  const {
    output: _output,
    kubeconfig,
    context,
    resources,
    rate,
    pageSize,
    dryRun,
    state,
    restart,
    checkpointEvery,
    etcdServers,
    etcdCafile,
    etcdCertfile,
    etcdKeyfile,
    etcdPrefix,
    keys,
    ...settings
  } = flags;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const list = (v: unknown): string[] =>
    (str(v) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const servers = list(etcdServers);
  const caFile = str(etcdCafile);
  const certFile = str(etcdCertfile);
  const keyFile = str(etcdKeyfile);
  const kc = str(kubeconfig);
  const ctx = str(context);
  return {
    settings,
    o: {
      connection: { ...(kc ? { kubeconfig: kc } : {}), ...(ctx ? { context: ctx } : {}) },
      resources: Array.isArray(resources) && resources.length > 0 ? (resources as KubeResource[]) : [SECRETS],
      rate: typeof rate === 'number' ? rate : DEFAULT_RATE,
      pageSize: typeof pageSize === 'number' ? pageSize : DEFAULT_PAGE,
      dryRun: dryRun === true,
      restart: restart === true,
      state: str(state) ?? DEFAULT_STATE,
      checkpointEvery: typeof checkpointEvery === 'number' ? checkpointEvery : DEFAULT_CHECKPOINT_EVERY,
      ...(servers.length > 0
        ? {
            etcd: {
              servers,
              ...(caFile ? { caFile } : {}),
              ...(certFile ? { certFile } : {}),
              ...(keyFile ? { keyFile } : {}),
            },
          }
        : {}),
      etcdPrefix: str(etcdPrefix) ?? '/registry',
      withKeys: keys !== false,
    },
  };
}

/** The summary and the usage check: JSON, or a table per resource and one per key id. */
function formatReencrypt(
  face: Face,
  s: ReencryptSummary,
  stateFile: string,
  check: UsageCheck,
  resources: readonly KubeResource[],
): string {
  const usage: UsageReport | undefined = 'report' in check ? check.report : undefined;
  if (face.format === 'json') {
    const usageJson =
      'skipped' in check
        ? { skipped: check.skipped }
        : { ...check.report, ...(check.keysUnavailable ? { keysUnavailable: check.keysUnavailable } : {}) };
    return `${JSON.stringify({ ...s, stateFile, usage: usageJson }, null, 2)}\n`;
  }
  const verb = s.dryRun ? 'would rewrite' : 'rewrote';
  const total = s.resources.reduce((n, r) => n + r.rewritten, 0);
  let out = `${s.cluster}: ${verb} ${total} objects in ${duration(s.elapsedMs / 1000)} (${s.objectsPerSecond} objects/s)${s.dryRun ? ', dry run: nothing written' : ''}\n`;
  if (s.resumed) out += `resumed from ${stateFile}\n`;
  if (s.resumeNote) out += `${paint(face, 'dim', s.resumeNote)}\n`;
  const rows: Cell[][] = s.resources.map((r) => [
    r.resource,
    String(r.listed),
    String(r.rewritten),
    String(r.alreadyDone),
    String(r.deleted),
    String(r.conflicts),
    String(r.retries),
    r.done ? { text: 'done', tone: 'green' } : { text: 'not finished', tone: 'yellow' },
  ]);
  out += `\n${table(face, rows, ['RESOURCE', 'LISTED', s.dryRun ? 'TO REWRITE' : 'REWRITTEN', 'DONE BEFORE', 'DELETED', 'CONFLICTS', 'RETRIES', ''])}`;
  if (s.interrupted) {
    out += `\n${paint(face, 'yellow', `interrupted: progress saved in ${stateFile}; run the same command again to resume`)}\n`;
    return out;
  }
  if ('skipped' in check) {
    if (!s.dryRun)
      out += `\nusage check skipped (${check.skipped}): run \`kleidi usage --etcd-servers … --resources ${resources.map(storedResourceName).join(',')}\` and check that no object is left under an old key id\n`;
    return out;
  }
  if (check.keysUnavailable) out += `\n${paint(face, 'dim', `key versions not shown: ${check.keysUnavailable}`)}\n`;
  const keyRows: Cell[][] = (usage?.keyIds ?? []).map((k) => [
    k.keyId,
    k.provider,
    k.version === undefined ? '-' : String(k.version),
    k.current ? { text: 'yes', tone: 'green' } : '',
    String(k.count),
  ]);
  out += `\nusage check: etcd ${usage?.prefix} at revision ${usage?.revision}, ${usage?.scanned} objects\n`;
  out += table(face, keyRows, ['KEY ID', 'PROVIDER', 'VERSION', 'CURRENT', 'OBJECTS']);
  const other = (usage?.resources ?? []).flatMap((r) => r.cells).filter((c) => c.kind !== 'kms-v2');
  if (other.length > 0)
    out += `${paint(face, 'yellow', `${other.reduce((n, c) => n + c.count, 0)} objects not under a KMS v2 key (identity or another provider): is the resource in the EncryptionConfiguration?`)}\n`;
  return out;
}
