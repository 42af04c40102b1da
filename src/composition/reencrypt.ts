import { setTimeout as delay } from 'node:timers/promises';
import type { ReencryptRequest } from '../adapters/inbound/cli/cli-app.js';
import { CheckpointFile } from '../adapters/outbound/checkpoint/checkpoint-file.js';
import { KubeApiClient } from '../adapters/outbound/kubernetes/kube-api-client.js';
import { resolveKubeConnection } from '../adapters/outbound/kubernetes/kubeconfig.js';
import type { ReencryptSummary } from '../domain/model/reencrypt.js';
import { reencrypt } from '../domain/services/reencrypt.js';

/**
 * Retry bounds of `kleidi reencrypt` (ADR 0019). Eight attempts with backoff
 * from 0.5 s doubling to 30 s ride out an apiserver restart (about a minute);
 * a 409 means someone else is writing the object right now, five reads in a
 * row is enough to say it keeps changing; a list expires when etcd compacts
 * under it (every 5 minutes by default, kube-apiserver's
 * --etcd-compaction-interval), which a paced run over a large resource meets
 * again and again; three restarts in a row with no object done in between
 * mean something else is wrong.
 */
const RETRY = { conflictAttempts: 5, retryAttempts: 8, backoff: { baseMs: 500, maxMs: 30_000 }, listRestarts: 3 };

/** `kleidi reencrypt`: the cluster from the kubeconfig, the checkpoint file, the loop. */
export async function runReencrypt(
  env: NodeJS.ProcessEnv,
  req: ReencryptRequest,
  signal: AbortSignal,
): Promise<ReencryptSummary> {
  const conn = await resolveKubeConnection({
    ...(req.kubeconfig === undefined ? {} : { kubeconfig: req.kubeconfig }),
    ...(req.context === undefined ? {} : { context: req.context }),
    env,
  });
  const store = await KubeApiClient.open(conn);
  try {
    return await reencrypt(
      store,
      new CheckpointFile(req.statePath),
      {
        resources: req.resources,
        pageSize: req.pageSize,
        objectsPerSecond: req.objectsPerSecond,
        dryRun: req.dryRun,
        restart: req.restart,
        checkpointEvery: req.checkpointEvery,
        ...RETRY,
        stop: req.stop,
        ...(req.onProgress ? { onProgress: req.onProgress } : {}),
        monotonic: () => performance.now(),
        sleep: (ms, s) => delay(ms, undefined, { signal: s }),
      },
      signal,
    );
  } finally {
    await store.close();
  }
}
