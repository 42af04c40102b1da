import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Cluster, check, storedAll } from './context.js';
import { decodeStored } from './envelope.js';
import { ensureNamespace } from './kube.js';
import { KINDS, readBack, writeBatch } from './ops.js';
import { waitFor } from './process.js';
import { firstWriteUnder, rotateAndWait } from './scenarios-rotation.js';
import type { Figures } from './scenario.js';

/** Objects of each kind the scenario writes under the old key before the rotation. */
const PER_KIND = 1000;
/** --checkpoint-every: the most a SIGKILL may make the next run rewrite again. */
const EVERY = 25;

/** The fields of `kleidi reencrypt --output json` the scenario reads (docs/operations.md). */
interface ReencryptJson {
  readonly interrupted: boolean;
  readonly resumed: boolean;
  readonly objectsPerSecond: number;
  readonly resources: readonly {
    resource: string;
    listed: number;
    rewritten: number;
    alreadyDone: number;
    done: boolean;
  }[];
  readonly usage: { skipped?: string; keyIds?: readonly { keyId: string; count: number }[] };
}

interface Checkpoint {
  readonly complete: boolean;
  readonly resources: Record<string, { after?: string; done: boolean; rewritten: number }>;
}

/** etcd key → mod revision (the object's resourceVersion) of every Secret and ConfigMap. */
async function revisions(c: Cluster): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const kind of KINDS) for (const kv of await c.etcd.get(`/registry/${kind}/`)) out.set(kv.key, kv.modRevision);
  return out;
}

/** The etcd keys whose revision moved between two snapshots. */
const changed = (a: Map<string, number>, b: Map<string, number>): Set<string> =>
  new Set([...b].filter(([k, rv]) => a.has(k) && a.get(k) !== rv).map(([k]) => k));

/** The etcd keys of `kind` up to and including `after` (namespace/name) in list order. */
function upTo(keys: Iterable<string>, kind: string, after: string | undefined, done: boolean): Set<string> {
  const root = `/registry/${kind}/`;
  return new Set(
    [...keys].filter((k) => k.startsWith(root) && (done || (after !== undefined && k.slice(root.length) <= after))),
  );
}

class Run {
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout = '';
  stderr = '';
  constructor(readonly proc: ChildProcess) {
    proc.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exit = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  }
  json(): ReencryptJson {
    try {
      return JSON.parse(this.stdout) as ReencryptJson;
    } catch {
      throw new Error(`kleidi reencrypt printed no JSON; stderr:\n${this.stderr.slice(-2000)}`);
    }
  }
}

/**
 * `kleidi reencrypt` after a rotation, interrupted by SIGINT and by SIGKILL and resumed: in the
 * end every Secret and ConfigMap is under the new key_id and reads back as written; each object
 * under the old key was stored again exactly once (its etcd revision moved once: the apiserver
 * skips the write of an object already under the current key, so the resumed run's slack shows
 * as PUTs of objects whose revision had already moved, counted here against --checkpoint-every).
 */
export async function reencryptResumed(c: Cluster, f: Figures): Promise<void> {
  await ensureNamespace(c.api);
  await writeBatch(c, c.api, 'reenc', PER_KIND);
  const t0 = performance.now();
  const newKey = await rotateAndWait(c.kleidi, [c.kleidi], f);
  await firstWriteUnder(c, c.api, newKey, t0);
  const kubeconfig = join(c.dir, 'reencrypt.kubeconfig');
  const state = join(c.dir, 'reencrypt.state.json');
  await c.api.writeKubeconfig(kubeconfig);
  const base = ['--kubeconfig', kubeconfig, '--resources', KINDS.join(','), '--state', state, '--output', 'json'];
  const start = (rate: number, extra: string[] = []) =>
    new Run(
      c.kleidi.spawnCli('reencrypt', [...base, '--rate', String(rate), '--checkpoint-every', String(EVERY), ...extra]),
    );
  const checkpoint = async (): Promise<Checkpoint | undefined> => {
    try {
      return JSON.parse(await readFile(state, 'utf8')) as Checkpoint;
    } catch {
      return undefined;
    }
  };
  const rewrittenSoFar = async () =>
    Object.values((await checkpoint())?.resources ?? {}).reduce((n, r) => n + r.rewritten, 0);

  const old = new Map<string, string>();
  for (const kind of KINDS)
    for (const [key, o] of await storedAll(c.etcd, kind)) if (o.keyId !== newKey) old.set(key, o.keyId);
  check(old.size >= 2 * PER_KIND, `only ${old.size} objects under the old key_id before reencrypt`);
  f.objectsUnderOldKey = old.size;
  const rv0 = await revisions(c);

  // Dry run: counts, writes nothing.
  const dry = new Run(c.kleidi.spawnCli('reencrypt', [...base, '--dry-run']));
  const dryExit = await dry.exit;
  check(dryExit.code === 0, `dry run exited ${dryExit.code}: ${dry.stderr.slice(-1000)}`);
  const dryListed = dry.json().resources.reduce((n, r) => n + r.rewritten, 0);
  check(dryListed === rv0.size, `dry run would rewrite ${dryListed} objects, etcd holds ${rv0.size}`);
  check(changed(rv0, await revisions(c)).size === 0, 'the dry run changed objects');
  check((await checkpoint()) === undefined, 'the dry run wrote a state file');

  // 1. SIGINT once some Secrets are done: exit 130, and exactly the objects up to the checkpoint written.
  const first = start(300);
  await waitFor('first run checkpoints 150 objects', async () => (await rewrittenSoFar()) >= 150, 60_000, 20);
  first.proc.kill('SIGINT');
  const e1 = await first.exit;
  check(e1.code === 130, `SIGINT: exit ${e1.code ?? e1.signal}, expected 130: ${first.stderr.slice(-1000)}`);
  check(first.json().interrupted, 'SIGINT: the summary does not say interrupted');
  const cp1 = await checkpoint();
  const rv1 = await revisions(c);
  for (const kind of KINDS) {
    const p = cp1?.resources[kind];
    const expected = upTo(rv0.keys(), kind, p?.after, p?.done ?? false);
    const moved = new Set([...changed(rv0, rv1)].filter((k) => k.startsWith(`/registry/${kind}/`)));
    const beyond = [...moved].filter((k) => !expected.has(k));
    check(
      beyond.length === 0,
      `SIGINT: ${beyond.length} ${kind} written beyond the checkpoint (${beyond.slice(0, 3)})`,
    );
    const missed = [...expected].filter((k) => old.has(k) && !moved.has(k));
    check(
      missed.length === 0,
      `SIGINT: ${missed.length} ${kind} up to the checkpoint not rewritten (${missed.slice(0, 3)})`,
    );
  }
  f.sigintAfterObjects = changed(rv0, rv1).size;

  // 2. Resume, then SIGKILL midway through the ConfigMaps: the checkpoint may lag by < EVERY objects.
  const second = start(300);
  await waitFor(
    'second run reaches the ConfigMaps',
    async () => ((await checkpoint())?.resources.configmaps?.rewritten ?? 0) >= 100,
    60_000,
    20,
  );
  second.proc.kill('SIGKILL');
  await second.exit;
  const cp2 = await checkpoint();
  const rv2 = await revisions(c);
  check(cp2?.resources.secrets?.done === true, 'SIGKILL: the Secrets were not finished before the kill');
  const afterKill = changed(rv0, rv2);
  const checkpointed = upTo(rv0.keys(), 'configmaps', cp2?.resources.configmaps?.after, false);
  const slack = [...afterKill].filter((k) => k.startsWith('/registry/configmaps/') && !checkpointed.has(k));
  check(slack.length <= EVERY, `SIGKILL: ${slack.length} objects written after the last checkpoint (at most ${EVERY})`);
  f.sigkillSlackObjects = slack.length;

  // 3. Resume to the end, fast, with the usage check.
  const third = start(2_000, ['--etcd-servers', c.etcd.url]);
  const e3 = await third.exit;
  check(e3.code === 0, `resumed run exited ${e3.code ?? e3.signal}: ${third.stderr.slice(-2000)}`);
  const s3 = third.json();
  check(s3.resumed, 'the third run did not resume');
  const secrets3 = s3.resources.find((r) => r.resource === 'secrets');
  check(secrets3?.rewritten === 0, `the third run rewrote ${secrets3?.rewritten} Secrets the checkpoint had done`);
  const cm3 = s3.resources.find((r) => r.resource === 'configmaps');
  f.resumedRunRewrote = cm3?.rewritten ?? -1;
  f.resumedRunObjectsPerSecond = s3.objectsPerSecond;
  check((await checkpoint())?.complete === true, 'the state file does not record a finished run');
  check(s3.usage.skipped === undefined, `usage check skipped: ${s3.usage.skipped}`);
  const stale = (s3.usage.keyIds ?? []).filter((k) => k.keyId !== newKey && k.count > 0);
  check(stale.length === 0, `usage check: objects left under ${JSON.stringify(stale)}`);

  // Every object under the new key_id, each old one stored again exactly once, none of the others.
  const rv3 = await revisions(c);
  const moved = [changed(rv0, rv1), changed(rv1, rv2), changed(rv2, rv3)];
  for (const key of rv0.keys()) {
    const times = moved.filter((m) => m.has(key)).length;
    check(times === (old.has(key) ? 1 : 0), `${key}: stored ${times} times (under the old key: ${old.has(key)})`);
  }
  for (const kind of KINDS)
    for (const kv of await c.etcd.get(`/registry/${kind}/`)) {
      const keyId = decodeStored(kv.value).keyId;
      check(keyId === newKey, `${kv.key} still under key_id ${keyId} after reencrypt (current ${newKey})`);
    }
  f.objectsReencrypted = old.size;
  f.objectsReadBack = await readBack(c, c.api);

  // The whole job at the pace of the apiserver alone, as an operator sees it (text, with the usage
  // check): a fresh run, since a finished one is not resumed. Every PUT is a no-op write now.
  const t1 = performance.now();
  const full = new Run(
    c.kleidi.spawnCli('reencrypt', [
      ...['--kubeconfig', kubeconfig, '--resources', KINDS.join(','), '--state', state],
      ...['--rate', '5000', '--etcd-servers', c.etcd.url, '--output', 'text'],
    ]),
  );
  const ef = await full.exit;
  check(ef.code === 0, `full run exited ${ef.code}: ${full.stderr.slice(-1000)}`);
  await writeFile(join(c.dir, 'reencrypt-output.txt'), full.stdout);
  const head = /rewrote (\d+) objects in \S+ \(([\d.]+) objects\/s\)/.exec(full.stdout);
  check(
    head !== null && !full.stdout.includes('resumed from'),
    `the run after a finished one did not start over:\n${full.stdout}`,
  );
  check(full.stdout.includes(`${newKey}  kleidi`), `the usage check does not show ${newKey}:\n${full.stdout}`);
  f.fullRunObjects = Number(head[1]);
  f.fullRunObjectsPerSecond = Number(head[2]);
  f.fullRunSeconds = Math.round((performance.now() - t1) / 100) / 10;
}
