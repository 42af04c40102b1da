import { type Cluster, check, since, stored } from './context.js';
import { ensureNamespace } from './kube.js';
import { checkStored, readBack, tryRead, tryWrite, writeBatch } from './ops.js';
import { sleep } from './process.js';
import type { Figures } from './scenario.js';

/** Objects to read during an outage, when the run started with this scenario (--only). */
async function seed(c: Cluster): Promise<string[]> {
  await ensureNamespace(c.api);
  return writeBatch(c, c.api, 'seed', 2);
}

const status = async (c: Cluster, path: string): Promise<number> =>
  (await c.api.get(path).catch(() => ({ status: 0 }))).status;

/**
 * After kleidi is back: seconds until /healthz/kms-providers answers 200 and until a write goes
 * through kleidi again (a new Secret stored under kleidi's key_id).
 */
async function recovery(c: Cluster, f: Figures, limitMs: number): Promise<void> {
  const t0 = performance.now();
  const { keyId } = await c.kleidi.status();
  let healthz: number | undefined;
  let write: number | undefined;
  while ((healthz === undefined || write === undefined) && performance.now() - t0 < limitMs) {
    if (healthz === undefined && (await status(c, '/healthz/kms-providers')) === 200) healthz = since(t0);
    if (write === undefined) {
      const name = await tryWrite(c, c.api, 'rec', 5_000);
      if (name !== null && (await stored(c.etcd, 'secrets', name)).keyId === keyId) write = since(t0);
    }
    await sleep(1_000);
  }
  check(healthz !== undefined && write !== undefined, `not recovered ${limitMs / 1000} s after kleidi was back`);
  f.recoveryHealthzSeconds = healthz;
  f.recoveryFirstWriteSeconds = write;
}

/**
 * A short kleidi outage: when the apiserver's /healthz/kms-providers and /readyz turn unhealthy,
 * that reads and writes keep working meanwhile, and how soon everything is back.
 */
export async function outageShort(c: Cluster, f: Figures): Promise<void> {
  const [someKey] = c.written.size > 0 ? c.written.keys() : await seed(c);
  check(someKey !== undefined, 'nothing written yet');
  check((await status(c, '/readyz')) === 200, '/readyz not ready before the outage');
  await c.kleidi.stop('SIGTERM');
  const t0 = performance.now();
  let healthzFail: number | undefined;
  let readyzFail: number | undefined;
  let reads = 0;
  let writes = 0;
  while (performance.now() - t0 < 90_000 && (healthzFail === undefined || readyzFail === undefined)) {
    if (healthzFail === undefined && (await status(c, '/healthz/kms-providers')) !== 200) healthzFail = since(t0);
    if (readyzFail === undefined && (await status(c, '/readyz')) !== 200) readyzFail = since(t0);
    check(await tryRead(c, c.api, someKey), `read failed ${since(t0)} s into the outage`);
    reads++;
    if ((await tryWrite(c, c.api, 'short', 5_000)) !== null) writes++;
    await sleep(1_000);
  }
  check(healthzFail !== undefined, '/healthz/kms-providers stayed healthy for 90 s without kleidi');
  check(readyzFail !== undefined, '/readyz stayed ready for 90 s without kleidi');
  f.healthzFailsAfterSeconds = healthzFail;
  f.readyzFailsAfterSeconds = readyzFail;
  f.readsDuringOutage = reads;
  f.writesDuringOutage = writes;
  f.outageSeconds = since(t0);
  await c.kleidi.start();
  await recovery(c, f, 240_000);
  f.readyzOk = (await status(c, '/readyz')) === 200;
}

/**
 * The EncryptionConfiguration changed under a running apiserver
 * (--encryption-provider-config-automatic-reload): a new provider name first, the old one after it.
 * New writes use the new prefix, old values stay readable.
 */
export async function reload(c: Cluster, f: Figures): Promise<void> {
  const next = c.provider === 'kleidi' ? 'kleidi-b' : 'kleidi';
  const t0 = performance.now();
  await c.api.writeConfig([
    { name: next, socket: c.kleidi.socket },
    { name: c.provider, socket: c.kleidi.socket },
  ]);
  let name: string | null = null;
  // The apiserver re-reads the file every minute
  // (EncryptionConfigFileChangePollDuration, k8s.io/apiserver/pkg/server/options/encryptionconfig/controller/controller.go).
  while (performance.now() - t0 < 150_000) {
    name = await tryWrite(c, c.api, 'reload', 5_000);
    if (name !== null && (await stored(c.etcd, 'secrets', name)).provider === next) break;
    name = null;
    await sleep(1_000);
  }
  check(name !== null, `no write under provider ${next} 150 s after the configuration changed`);
  f.firstWriteUnderNewProviderSeconds = since(t0);
  c.provider = next;
  await checkStored(c, [`secrets/${name}`], (await c.kleidi.status()).keyId, next);
  f.objectsReadBack = await readBack(c, c.api);
  f.provider = next;
}

/**
 * kleidi down longer than the apiserver's write window (3 minutes, kmsv2PluginWriteDEKSourceMaxTTL in
 * k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go): reads keep working (cached DEKs),
 * writes fail once the window has passed, and after kleidi is back the apiserver's gRPC
 * reconnect backoff decides how soon writes work again.
 */
export async function outageLong(c: Cluster, f: Figures): Promise<void> {
  const [someKey] = c.written.size > 0 ? c.written.keys() : await seed(c);
  check(someKey !== undefined, 'nothing written yet');
  await c.kleidi.stop('SIGTERM');
  const t0 = performance.now();
  let writeFail: number | undefined;
  let reads = 0;
  while (performance.now() - t0 < 300_000 && writeFail === undefined) {
    if ((await tryWrite(c, c.api, 'long', 5_000)) === null) writeFail = since(t0);
    check(await tryRead(c, c.api, someKey), `read failed ${since(t0)} s into the outage`);
    reads++;
    await sleep(5_000);
  }
  check(writeFail !== undefined, 'writes still worked 300 s into the outage');
  f.writesFailAfterSeconds = writeFail;
  // A little longer, as an operator would take to notice: reads must still work.
  await sleep(15_000);
  check(await tryRead(c, c.api, someKey), 'read failed after writes had stopped');
  f.readsDuringOutage = reads + 1;
  f.outageSeconds = since(t0);
  await c.kleidi.start();
  await recovery(c, f, 300_000);
}
