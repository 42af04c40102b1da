import { type Command, Option } from 'commander';
import type { CliFlags, UsageRequest } from './cli-app.js';
import { positiveIntArg } from './options.js';

/** How long a scan may take before it gives up: a store of millions of keys at the default rate fits. */
export const SCAN_TIMEOUT_MS = 6 * 60 * 60_000;
/**
 * Keys a second by default: well under what one etcd member serves
 * (https://etcd.io/docs/v3.6/op-guide/performance/ measures tens of
 * thousands of reads a second), so the apiserver's own reads keep their share.
 */
const DEFAULT_RATE = 5_000;
const DEFAULT_PAGE = 500;
const positiveInt = positiveIntArg('a positive integer');

/** Where etcd is and how fast to read it: every scan setting but the resources. */
export type EtcdScan = Omit<UsageRequest, 'withKeys' | 'resources' | 'onProgress'>;

/**
 * kube-apiserver's `--etcd-*` flags and the scan's pace, as `kleidi usage` and
 * `kleidi retire` take them. `--etcd-servers` is mandatory unless the command
 * has another source (`kleidi retire --scan`).
 */
export function withEtcdFlags(cmd: Command, serversMandatory: boolean): Command {
  const servers = new Option('--etcd-servers <urls>', "comma-separated, as kube-apiserver's --etcd-servers");
  return cmd
    .addOption(serversMandatory ? servers.makeOptionMandatory() : servers)
    .option('--etcd-cafile <file>', "as kube-apiserver's --etcd-cafile")
    .option('--etcd-certfile <file>', "as kube-apiserver's --etcd-certfile")
    .option('--etcd-keyfile <file>', "as kube-apiserver's --etcd-keyfile (a path; mode 0600, owned by this user)")
    .option('--etcd-prefix <prefix>', "as kube-apiserver's --etcd-prefix", '/registry')
    .addOption(
      new Option('--rate <keys/s>', 'read at most this many keys a second')
        .argParser(positiveInt)
        .default(DEFAULT_RATE),
    )
    .addOption(new Option('--page-size <n>', 'keys per etcd request').argParser(positiveInt).default(DEFAULT_PAGE));
}

/** The etcd flags out of `flags`; `rest` keeps every other flag. */
export function splitEtcdFlags(flags: CliFlags): { etcd: EtcdScan; rest: CliFlags } {
  const { etcdServers, etcdCafile, etcdCertfile, etcdKeyfile, etcdPrefix, rate, pageSize, ...rest } = flags;
  const caFile = str(etcdCafile);
  const certFile = str(etcdCertfile);
  const keyFile = str(etcdKeyfile);
  return {
    rest,
    etcd: {
      etcd: {
        servers: list(etcdServers),
        ...(caFile ? { caFile } : {}),
        ...(certFile ? { certFile } : {}),
        ...(keyFile ? { keyFile } : {}),
      },
      prefix: str(etcdPrefix) ?? '/registry',
      pageSize: typeof pageSize === 'number' ? pageSize : DEFAULT_PAGE,
      maxKeysPerSecond: typeof rate === 'number' ? rate : DEFAULT_RATE,
    },
  };
}

export const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** "a, b,c" as ["a", "b", "c"]. */
export const list = (v: unknown): string[] =>
  (str(v) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export interface Progress {
  show(scanned: number, revision: number): void;
  done(): void;
}

/** A scan's progress on stderr: one rewritten line on a terminal, sparse log lines elsewhere. */
export const scanProgress = (command: string): Progress =>
  process.stderr.isTTY ? progressLine() : progressLines(command);

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
function progressLines(command: string): Progress {
  const EVERY_MS = 10_000;
  let next = 0;
  return {
    show: (n, revision) => {
      const now = Date.now();
      if (next === 0) process.stderr.write(`kleidi ${command}: reading etcd at revision ${revision}\n`);
      else if (now < next) return;
      else process.stderr.write(`kleidi ${command}: scanned ${n} objects\n`);
      next = now + EVERY_MS;
    },
    done: () => undefined,
  };
}
