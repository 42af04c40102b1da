import {
  KubeApiError,
  type KubeObject,
  type KubeResource,
  type ObjectName,
  objectLabel,
  orderKey,
  type ReencryptCheckpoint,
  ReencryptError,
  type ReencryptProgress,
  type ReencryptSummary,
  type ResourceProgress,
  type ResourceSummary,
} from '../model/reencrypt.js';
import type { CheckpointStore } from '../../ports/outbound/checkpoint.port.js';
import type { KubeObjectStore } from '../../ports/outbound/kube-objects.port.js';

export interface ReencryptOptions {
  readonly resources: readonly KubeResource[];
  /** Names per list request. */
  readonly pageSize: number;
  /** At most this many objects (one GET and one PUT each) a second. */
  readonly objectsPerSecond: number;
  /** List and count; read and write nothing else, save no checkpoint. */
  readonly dryRun: boolean;
  /** Ignore the checkpoint and start from the first object. */
  readonly restart: boolean;
  /** Save the checkpoint after this many objects (the most a SIGKILL can make a rerun redo). */
  readonly checkpointEvery: number;
  /** Read-and-write attempts of one object while it keeps changing under us (409). */
  readonly conflictAttempts: number;
  /** Attempts of one request that fails with 429, 5xx or a dropped connection. */
  readonly retryAttempts: number;
  /** Backoff after the n-th such failure: base·2ⁿ⁻¹ up to max, unless Retry-After says otherwise. */
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  /** Lists restarted after 410 Expired in a row with no object done in between, before giving up. */
  readonly listRestarts: number;
  /** Aborting it stops gracefully: the object in flight is finished, the checkpoint saved. */
  readonly stop: AbortSignal;
  readonly onProgress?: (p: ReencryptProgress) => void;
  readonly monotonic: () => number;
  /** Resolves after `ms` (rejects when `signal` aborts). */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface Tally {
  listed: number;
  rewritten: number;
  deleted: number;
  alreadyDone: number;
  conflicts: number;
  retries: number;
  listRestarts: number;
}

/**
 * `kleidi reencrypt` (ADR 0019): every object of `resources` read and written
 * back unchanged through kube-apiserver, which encrypts a write with the
 * current key, so nothing stays under an older key_id
 * (https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/#ensure-all-secrets-are-encrypted).
 * Paced, retried within bounds, resumable from the checkpoint; `signal`
 * aborts at once, `opts.stop` after the object in flight.
 */
export async function reencrypt(
  store: KubeObjectStore,
  checkpoints: CheckpointStore,
  opts: ReencryptOptions,
  signal: AbortSignal,
): Promise<ReencryptSummary> {
  const started = opts.monotonic();
  const { checkpoint, resumed, resumeNote } = await startingPoint(store, checkpoints, opts);
  const progress = new Map<string, ResourceProgress>(Object.entries(checkpoint.resources));
  const pacer = new Pacer(opts.objectsPerSecond, opts.monotonic, opts.sleep);
  const summaries: ResourceSummary[] = [];
  let handled = 0;
  let interrupted = false;
  const save = async (complete: boolean): Promise<void> => {
    if (opts.dryRun) return;
    await checkpoints.save({ version: 1, cluster: store.cluster, resources: Object.fromEntries(progress), complete });
  };

  try {
    for (const [i, resource] of opts.resources.entries()) {
      const t: Tally = {
        listed: 0,
        rewritten: 0,
        deleted: 0,
        alreadyDone: 0,
        conflicts: 0,
        retries: 0,
        listRestarts: 0,
      };
      let p: ResourceProgress = progress.get(resource.name) ?? { done: false, rewritten: 0, deleted: 0 };
      if (p.done || interrupted) {
        summaries.push({ resource: resource.name, ...t, done: p.done });
        continue;
      }
      const resumeAfter = p.after;
      let sinceSave = 0;
      let total: number | undefined;
      let position = 0;
      let token: string | undefined;
      let previous: string | undefined;
      let idleRestarts = 0;
      let handledAtRestart = handled;
      const report = (): void =>
        opts.onProgress?.({
          resource: resource.name,
          resourceIndex: i + 1,
          resourceCount: opts.resources.length,
          position,
          ...(total === undefined ? {} : { total }),
          handled,
          elapsedMs: opts.monotonic() - started,
        });
      listing: for (;;) {
        let page: Awaited<ReturnType<KubeObjectStore['list']>>;
        try {
          page = await withRetries(
            () => store.list(resource, { limit: opts.pageSize, ...(token ? { continueToken: token } : {}) }, signal),
            opts,
            t,
            `list ${resource.name}`,
            signal,
          );
        } catch (err) {
          if (!(err instanceof KubeApiError && err.failure === 'expired' && token !== undefined)) throw err;
          // The continue token outlived etcd's compaction: list again from the start; what is
          // done (p.after) is skipped by name, so nothing is rewritten twice. A paced run over a
          // large resource meets a compaction every few minutes, so only restarts that made no
          // progress in between count towards giving up.
          t.listRestarts++;
          idleRestarts = handled > handledAtRestart ? 1 : idleRestarts + 1;
          handledAtRestart = handled;
          if (idleRestarts > opts.listRestarts)
            throw new ReencryptError(
              `list ${resource.name}: continue token expired ${idleRestarts} times in a row without progress`,
            );
          token = undefined;
          previous = undefined;
          position = 0;
          t.listed = 0;
          t.alreadyDone = 0;
          continue;
        }
        if (token === undefined && page.remaining !== undefined) total = page.items.length + page.remaining;
        for (const item of page.items) {
          const key = orderKey(item);
          if (previous !== undefined && key <= previous)
            throw new ReencryptError(
              `list ${resource.name}: ${key} came after ${previous}, not in key order; resuming by name is not safe (rerun with --restart)`,
            );
          previous = key;
          t.listed++;
          position++;
          if (p.after !== undefined && key <= p.after) {
            if (resumeAfter !== undefined && key <= resumeAfter) t.alreadyDone++;
            continue;
          }
          if (opts.dryRun) {
            t.rewritten++;
            handled++;
            continue;
          }
          await pacer.next(signal);
          const outcome = await rewriteOne(store, resource, item, opts, t, signal);
          if (outcome === 'deleted') t.deleted++;
          else t.rewritten++;
          handled++;
          p = {
            after: key,
            done: false,
            rewritten: p.rewritten + (outcome === 'rewritten' ? 1 : 0),
            deleted: p.deleted + (outcome === 'deleted' ? 1 : 0),
          };
          progress.set(resource.name, p);
          report();
          if (++sinceSave >= opts.checkpointEvery) {
            await save(false);
            sinceSave = 0;
          }
          if (opts.stop.aborted) {
            interrupted = true;
            break listing;
          }
        }
        if (opts.dryRun) report();
        token = page.continueToken;
        if (token === undefined || token === '') break;
      }
      if (!interrupted) {
        p = { ...p, done: true };
        progress.set(resource.name, p);
      }
      await save(false);
      summaries.push({ resource: resource.name, ...t, done: p.done });
      if (opts.stop.aborted) interrupted = true;
    }
  } catch (err) {
    // A failure or an abort: what is done is recorded, so a rerun starts after it.
    await save(false).catch(() => undefined);
    throw err;
  }
  if (!interrupted) await save(true);
  const elapsedMs = opts.monotonic() - started;
  return {
    cluster: store.cluster,
    dryRun: opts.dryRun,
    resumed,
    ...(resumeNote ? { resumeNote } : {}),
    interrupted,
    elapsedMs: Math.round(elapsedMs),
    objectsPerSecond: elapsedMs > 0 ? Math.round((handled / elapsedMs) * 1000 * 10) / 10 : 0,
    resources: summaries,
  };
}

/** The checkpoint to resume from, or an empty one; why a saved one is not used. */
async function startingPoint(
  store: KubeObjectStore,
  checkpoints: CheckpointStore,
  opts: ReencryptOptions,
): Promise<{ checkpoint: ReencryptCheckpoint; resumed: boolean; resumeNote?: string }> {
  const empty: ReencryptCheckpoint = { version: 1, cluster: store.cluster, resources: {}, complete: false };
  if (opts.restart) return { checkpoint: empty, resumed: false };
  const saved = await checkpoints.load();
  if (saved === undefined) return { checkpoint: empty, resumed: false };
  if (saved.cluster !== store.cluster)
    return {
      checkpoint: empty,
      resumed: false,
      resumeNote: `${checkpoints.location} is of ${saved.cluster}, not ${store.cluster}: starting over`,
    };
  if (saved.complete)
    return {
      checkpoint: empty,
      resumed: false,
      resumeNote: `${checkpoints.location} records a finished run: starting over`,
    };
  // Only the asked-for resources carry over; a finished one stays finished.
  const resources = Object.fromEntries(
    opts.resources.flatMap((r) => (saved.resources[r.name] ? [[r.name, saved.resources[r.name]]] : [])),
  ) as Record<string, ResourceProgress>;
  return { checkpoint: { ...empty, resources }, resumed: Object.keys(resources).length > 0 };
}

/** GET then PUT the object; a 409 re-reads and tries again, a 404 means it was deleted meanwhile. */
async function rewriteOne(
  store: KubeObjectStore,
  resource: KubeResource,
  item: ObjectName,
  opts: ReencryptOptions,
  t: Tally,
  signal: AbortSignal,
): Promise<'rewritten' | 'deleted'> {
  const label = objectLabel(resource, item);
  for (let attempt = 1; ; attempt++) {
    try {
      const obj: KubeObject = await withRetries(
        () => store.get(resource, item, signal),
        opts,
        t,
        `get ${label}`,
        signal,
      );
      await withRetries(() => store.replace(resource, item, obj, signal), opts, t, `update ${label}`, signal);
      return 'rewritten';
    } catch (err) {
      if (!(err instanceof KubeApiError)) throw err;
      if (err.failure === 'not-found') return 'deleted';
      if (err.failure !== 'conflict') throw err;
      t.conflicts++;
      if (attempt >= opts.conflictAttempts)
        throw new ReencryptError(`${label}: still changing after ${attempt} attempts (409 Conflict each time)`, {
          cause: err,
        });
    }
  }
}

/** `call`, again after a backoff while it fails with a retryable error; then a ReencryptError. */
async function withRetries<T>(
  call: () => Promise<T>,
  opts: ReencryptOptions,
  t: Tally,
  what: string,
  signal: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof KubeApiError)) throw err;
      if (err.failure === 'fatal') throw new ReencryptError(`${what}: ${err.message}`, { cause: err });
      if (err.failure !== 'retryable') throw err;
      if (attempt >= opts.retryAttempts)
        throw new ReencryptError(`${what}: gave up after ${attempt} attempts: ${err.message}`, { cause: err });
      t.retries++;
      const backoff = Math.min(opts.backoff.maxMs, opts.backoff.baseMs * 2 ** (attempt - 1));
      await opts.sleep(err.retryAfterMs ?? backoff, signal);
    }
  }
}

/**
 * At most `perSecond` starts a second: each start is scheduled 1/perSecond
 * after the previous one, with no burst, so a rerun or a slow apiserver never
 * makes up for lost time by flooding it.
 */
class Pacer {
  private nextAt: number | undefined;
  constructor(
    private readonly perSecond: number,
    private readonly monotonic: () => number,
    private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>,
  ) {}

  async next(signal: AbortSignal): Promise<void> {
    const now = this.monotonic();
    const at = this.nextAt === undefined ? now : Math.max(now, this.nextAt);
    this.nextAt = at + 1000 / this.perSecond;
    if (at > now) await this.sleep(at - now, signal);
  }
}
