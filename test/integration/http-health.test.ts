import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsTestClient } from '../support/grpc-client.js';
import { startKleidi, tempDir, type KleidiProcess } from '../support/kleidi-process.js';
import {
  get,
  healthCheck,
  healthWatchFirst,
  loggedHttpUrl,
  sample,
  ServingStatus,
  until,
} from '../support/operations.js';

describe('/livez, /readyz and grpc.health.v1 through a backend outage', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let k: KleidiProcess;
  let base: string;
  let keyring: string;
  let original: Buffer;

  beforeAll(async () => {
    tmp = await tempDir();
    k = await startKleidi(tmp.dir); // refresh every 200 ms
    base = await loggedHttpUrl(k.output);
    keyring = join(k.stateDir, 'keyring.json');
    original = readFileSync(keyring);
  });
  afterAll(async () => {
    await k?.stop();
    await tmp?.cleanup();
  });

  it('is live and ready, and the gRPC health service answers SERVING, while the backend is healthy', async () => {
    expect(await get(base, '/livez')).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await get(base, '/readyz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await healthCheck(k.socket)).toBe(ServingStatus.SERVING);
    expect(await healthCheck(k.socket, 'v2.KeyManagementService')).toBe(ServingStatus.SERVING);
    expect(await healthWatchFirst(k.socket)).toBe(ServingStatus.SERVING);
  });

  it('answers NOT_FOUND for a service it does not serve (Check) and SERVICE_UNKNOWN (Watch)', async () => {
    await expect(healthCheck(k.socket, 'no.such.Service')).rejects.toMatchObject({ code: 5 });
    expect(await healthWatchFirst(k.socket, 'no.such.Service')).toBe(ServingStatus.SERVICE_UNKNOWN);
  });

  it('stays live but turns unready (503 with the reason) when the keyring breaks, then recovers', async () => {
    writeFileSync(keyring, '{ this is not a keyring'); // same file, same 0600 mode: currentVersion now fails
    const down = await until(
      () => get(base, '/readyz'),
      (r) => r.status === 503,
    );
    expect(down.status).toBe(503);
    expect(down.body).toMatch(/backend-unavailable: keyring changed but cannot be loaded/);
    expect(await get(base, '/livez')).toMatchObject({ status: 200 });
    expect(await healthCheck(k.socket)).toBe(ServingStatus.NOT_SERVING);
    expect(await healthCheck(k.socket, 'v2.KeyManagementService')).toBe(ServingStatus.NOT_SERVING);
    const c = new KmsTestClient(k.socket);
    expect((await c.status()).healthz).not.toBe('ok'); // the apiserver sees the same outage
    c.close();
    const metrics = (await get(base, '/metrics')).body;
    expect(sample(metrics, 'kleidi_backend_healthy', { backend: 'local' })).toBe(0);
    expect(
      sample(metrics, 'kleidi_backend_operations_total', { op: 'currentVersion', outcome: 'backend-unavailable' }),
    ).toBeGreaterThan(0);

    writeFileSync(keyring, original);
    const up = await until(
      () => get(base, '/readyz'),
      (r) => r.status === 200,
    );
    expect(up).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await get(base, '/livez')).toMatchObject({ status: 200 });
    expect(await healthCheck(k.socket)).toBe(ServingStatus.SERVING);
    expect(sample((await get(base, '/metrics')).body, 'kleidi_backend_healthy', { backend: 'local' })).toBe(1);
  });

  it('answers only GET and HEAD, and only its three paths', async () => {
    expect((await fetch(new URL('/readyz', base), { method: 'POST' })).status).toBe(405);
    const head = await fetch(new URL('/livez', base), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await get(base, '/debug/pprof')).status).toBe(404);
  });
});
