import { type Cluster, check, since } from './context.js';
import { ensureNamespace } from './kube.js';
import { checkStored, readBack, tryRead, tryWrite, writeBatch } from './ops.js';
import type { Figures } from './scenario.js';
import { sleep, waitFor } from './process.js';

/** Secrets and ConfigMaps written and read back; every raw value a KMSv2 envelope under kleidi's key_id. */
export async function writeRead(c: Cluster, f: Figures): Promise<void> {
  await ensureNamespace(c.api);
  const { keyId } = await c.kleidi.status();
  const t0 = performance.now();
  const keys = await writeBatch(c, c.api, 'wr', 10);
  f.writeSeconds = since(t0);
  f.objects = await readBack(c, c.api, keys);
  await checkStored(c, keys, keyId);
  f.keyId = keyId;
}

/** kube-apiserver restarted: everything reads back; new writes still go through kleidi. */
export async function apiserverRestart(c: Cluster, f: Figures): Promise<void> {
  await c.api.stop();
  f.restartSeconds = await c.api.start();
  f.objectsReadBack = await readBack(c, c.api);
  const { keyId } = await c.kleidi.status();
  await checkStored(c, await writeBatch(c, c.api, 'ar', 2), keyId);
}

/**
 * kleidi stopped (SIGTERM: it removes its socket; SIGKILL: the socket file stays behind) while
 * the apiserver serves, then started again: reads and writes work while it is down (the
 * apiserver's cached DEK) and after it is back (kleidi replaces a stale socket).
 */
export function kleidiRestart(signal: 'SIGTERM' | 'SIGKILL') {
  return async (c: Cluster, f: Figures): Promise<void> => {
    const [someKey] = c.written.keys();
    check(someKey !== undefined, 'nothing written yet');
    await c.kleidi.stop(signal);
    f.socketLeftBehind = c.kleidi.socketLeft;
    check(f.socketLeftBehind === (signal === 'SIGKILL'), `socket file present=${f.socketLeftBehind} after ${signal}`);
    check(await tryRead(c, c.api, someKey), 'read failed while kleidi was down');
    check((await tryWrite(c, c.api, 'down')) !== null, 'write failed right after kleidi went down');
    await sleep(2_000);
    f.kleidiStartSeconds = await c.kleidi.start();
    const t0 = performance.now();
    // The apiserver's gRPC connection reconnects on its own; a write that needs kleidi proves it.
    f.healthzOkSeconds = await waitFor(
      'healthz/kms-providers after restart',
      async () => (await c.api.get('/healthz/kms-providers')).status === 200,
      180_000,
      500,
    );
    const { keyId } = await c.kleidi.status();
    const keys = await writeBatch(c, c.api, 'kr', 2);
    await checkStored(c, keys, keyId);
    f.firstWriteAfterStartSeconds = since(t0);
    f.objectsReadBack = await readBack(c, c.api);
  };
}
