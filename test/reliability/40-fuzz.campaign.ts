import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fuzzKleidi } from '../fuzz/fuzz-run.js';
import { CODE, RawClient, validSamples } from '../fuzz/grpc-fuzz.js';
import { statusOf } from '../fuzz/status.js';
import { FUZZ_REQUESTS, JOURNALS, LOGS, record } from './support/env.js';
import { KleidiNode } from './support/kleidi.js';
import { registerKeyringSecrets } from './support/keyring-watch.js';

/** RSS may grow by at most this much over the run (after a warm-up): a leak of ~350 bytes per request would exceed it. */
const RSS_MARGIN_KIB = 32 * 1024;

/**
 * 100,000 fuzz requests (FUZZ_REQUESTS) to a running kleidi on the local
 * backend, as one apiserver would connect (two HTTP/2 connections, 32 calls
 * in flight). See test/fuzz/grpc-fuzz.ts for the input classes and the codes
 * each may get.
 */
describe('reliability: gRPC fuzz', () => {
  let dir: string | undefined;
  let node: KleidiNode | undefined;
  afterAll(async () => {
    await node?.stop();
    if (node) registerKeyringSecrets(join(node.spec.stateDir, 'keyring.json'));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`${FUZZ_REQUESTS} requests of random bytes, mutated valid messages and boundary sizes: documented codes, no crash, no leak`, async () => {
    dir = await mkdtemp('/tmp/kleidi-rel-fuzz-');
    node = new KleidiNode({
      name: 'fuzz-local',
      socket: join(dir, 'kms.sock'),
      stateDir: join(dir, 'state'),
      backend: 'local',
      env: {},
      logLevel: 'info',
    });
    await node.start();
    const n = node;
    const seed = Number(process.env.RELIABILITY_FUZZ_SEED ?? Date.now() & 0x7fffffff);
    const run = await fuzzKleidi({
      socket: n.spec.socket,
      pid: n.pid,
      isAlive: () => n.running,
      count: FUZZ_REQUESTS,
      seed,
      concurrency: 32,
    });
    // The valid samples' seeds are plaintext the log scan must not find.
    writeFileSync(
      join(JOURNALS, 'fuzz-seeds.jsonl'),
      `${run.seeds.map((s) => JSON.stringify({ seed: Buffer.from(s).toString('hex') })).join('\n')}\n`,
    );
    const log = readFileSync(join(LOGS, 'fuzz-local.log'), 'utf8');
    const internalLogged = (log.match(/"unexpected error"/g) ?? []).length;
    const byCode: Record<string, number> = {};
    for (const s of Object.values(run.report.byClass))
      for (const [c, k] of Object.entries(s.codes)) byCode[c] = (byCode[c] ?? 0) + k;
    const growth = run.rssAfterKiB - run.rssBeforeKiB;
    const invariants = {
      'every answer has a documented code for its input class': run.report.unexpected === 0,
      'no Decrypt answered OK with other bytes': run.report.wrong === 0,
      'no INTERNAL answer, no "unexpected error" logged': (byCode.INTERNAL ?? 0) === 0 && internalLogged === 0,
      'kleidi still running (no crash, no restart)': run.aliveAfter && n.starts === 1,
      'healthy afterwards and round-trips a fresh seed': run.healthyAfter && run.roundTripAfter,
      [`RSS growth within ${RSS_MARGIN_KIB / 1024} MiB after warm-up`]: growth <= RSS_MARGIN_KIB,
    };
    record({
      kind: 'fuzz',
      backend: 'local',
      name: 'gRPC fuzz',
      seed,
      requests: run.report.requests,
      warmup: run.warmup,
      ms: run.report.ms,
      byClass: run.report.byClass,
      byCode,
      rssBeforeKiB: run.rssBeforeKiB,
      rssAfterKiB: run.rssAfterKiB,
      rssTrend: run.rssTrend,
      rssMarginKiB: RSS_MARGIN_KIB,
      invariants,
    });
    const failed = Object.entries(invariants)
      .filter(([, ok]) => !ok)
      .map(([k]) => k);
    const examples = Object.entries(run.report.byClass).flatMap(([cls, s]) => s.examples.map((e) => `${cls}: ${e}`));
    expect(failed, examples.join('\n')).toEqual([]);
  });

  it('a client that cancels calls at once (HTTP/2 rapid reset): only its own connection is affected', async () => {
    const n = node!;
    const seed = Buffer.alloc(32, 9);
    const a = new RawClient(n.spec.socket); // the cancelling client, which also sends ordinary calls
    const b = new RawClient(n.spec.socket); // another client
    const [valid] = await validSamples(a, 1, () => seed);
    const decrypt = '/v2.KeyManagementService/Decrypt';
    const innocentCodes: Record<string, number> = {};
    const otherCodes: Record<string, number> = {};
    let stop = false;
    let closedAfter: number | undefined;
    let cancelled = 0;
    const tally = (o: Record<string, number>, r: { code: number; details?: string }) => {
      const k =
        r.code === 0 ? 'OK' : `${CODE[r.code]}${/Session closed/.test(r.details ?? '') ? ' (connection closed)' : ''}`;
      o[k] = (o[k] ?? 0) + 1;
    };
    const steady = async (c: RawClient, o: Record<string, number>) => {
      while (!stop) {
        await Promise.all(
          Array.from({ length: 8 }, () => c.call(decrypt, valid!.decrypt, 3_000).then((r) => tally(o, r))),
        );
      }
    };
    const loops = [steady(a, innocentCodes), steady(b, otherCodes)];
    const CANCELS = 3_000;
    for (let i = 0; i < CANCELS && closedAfter === undefined; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => a.call(decrypt, valid!.decrypt, 1)));
      cancelled += batch.length;
      if (batch.some((r) => r.code === CODE.INTERNAL && /Session closed with error code 2/.test(r.details ?? '')))
        closedAfter = cancelled;
    }
    await new Promise((r) => setTimeout(r, 1_000));
    stop = true;
    await Promise.all(loops);
    a.close();
    b.close();
    const status = await statusOf(n.spec.socket);
    const innocent = Object.values(innocentCodes).reduce((x, y) => x + y, 0);
    const invariants = {
      'kleidi still running and healthy': n.running && status?.healthz === 'ok',
      'other connections unaffected': Object.keys(otherCodes).every((k) => k === 'OK'),
    };
    record({
      kind: 'rapid-reset',
      name: 'cancelling client',
      cancelled,
      closedAfter,
      innocent,
      innocentFailed: innocent - (innocentCodes.OK ?? 0),
      innocentCodes,
      otherCodes,
      aliveAfter: invariants['kleidi still running and healthy'],
      note:
        "Node's HTTP/2 server (nghttp2) answers a burst of more than ~1000 client stream resets, then more than 33/s, with GOAWAY INTERNAL_ERROR " +
        '(the CVE-2023-44487 rapid-reset protection): every call in flight on that connection fails and the client reconnects. kleidi answers ' +
        "inside the apiserver's deadline (its backend budgets are below 3 s), so kube-apiserver does not cancel calls at that rate.",
      invariants,
    });
    expect(invariants).toEqual({ 'kleidi still running and healthy': true, 'other connections unaffected': true });
  });
});
