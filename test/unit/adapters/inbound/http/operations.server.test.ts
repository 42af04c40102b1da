import { afterEach, describe, expect, it } from 'vitest';
import { httpUrl, isLoopback, parseHttpAddress } from '#src/adapters/inbound/http/http-address.js';
import { OperationsHttpServer } from '#src/adapters/inbound/http/operations.server.js';
import type { HealthProbes, MetricsExposition, ProbeResult } from '#src/ports/inbound/operations.port.js';
import { recordingLogger } from '../../../../support/builders.js';
import { get } from '../../../../support/operations.js';

describe('parseHttpAddress', () => {
  it.each([
    ['127.0.0.1:8181', { host: '127.0.0.1', port: 8181 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['[::1]:9000', { host: '::1', port: 9000 }],
    ['0.0.0.0:8181', { host: '0.0.0.0', port: 8181 }],
  ])('parses %s', (raw, want) => expect(parseHttpAddress(raw)).toEqual(want));

  it.each(['', 'localhost', ':8181', '127.0.0.1:65536', 'http://127.0.0.1:8181', '::1:8181'])('refuses %j', (raw) =>
    expect(parseHttpAddress(raw)).toBeUndefined(),
  );

  it('knows loopback hosts and formats URLs', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '10.0.0.1', '::'].some(isLoopback)).toBe(false);
    expect(httpUrl({ host: '::1', port: 1 })).toBe('http://[::1]:1');
  });
});

describe('OperationsHttpServer', () => {
  let server: OperationsHttpServer | undefined;
  afterEach(async () => {
    await server?.close();
  });

  async function start(live: ProbeResult, ready: ProbeResult, render: () => Promise<string>, host = '127.0.0.1') {
    const probes: HealthProbes = { liveness: () => live, readiness: () => ready };
    const metrics: MetricsExposition = { contentType: 'text/plain; version=0.0.4; charset=utf-8', render };
    const log = recordingLogger();
    server = new OperationsHttpServer(probes, metrics, log);
    return { url: await server.start({ host, port: 0 }), log };
  }

  it('answers 200 "ok" for passing probes and serves the metrics text', async () => {
    const { url, log } = await start({ ok: true, reason: 'ok' }, { ok: true, reason: 'ok' }, async () => 'x_total 1\n');
    expect(await get(url, '/livez')).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await get(url, '/readyz?verbose')).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await get(url, '/metrics')).toMatchObject({
      status: 200,
      body: 'x_total 1\n',
      type: 'text/plain; version=0.0.4; charset=utf-8',
    });
    expect(log.lines.find((l) => l.message === 'serving health and metrics over HTTP')?.fields).toMatchObject({ url });
    expect(log.lines.some((l) => l.level === 'warn')).toBe(false); // loopback: no exposure warning
  });

  it('answers 503 with the reason for failing probes, each probe on its own', async () => {
    const { url } = await start(
      { ok: true, reason: 'ok' },
      { ok: false, reason: 'backend-unavailable: sealed' },
      async () => '',
    );
    expect(await get(url, '/livez')).toMatchObject({ status: 200 });
    expect(await get(url, '/readyz')).toMatchObject({ status: 503, body: 'backend-unavailable: sealed\n' });
  });

  it('answers 500 without details when metrics cannot be rendered, and logs why', async () => {
    const { url, log } = await start({ ok: true, reason: 'ok' }, { ok: true, reason: 'ok' }, () =>
      Promise.reject(new Error('boom')),
    );
    expect(await get(url, '/metrics')).toMatchObject({ status: 500, body: 'metrics unavailable\n' });
    expect(log.lines.some((l) => l.level === 'error' && l.message === 'rendering metrics failed')).toBe(true);
  });

  it('warns when it listens beyond loopback', async () => {
    const { log } = await start({ ok: true, reason: 'ok' }, { ok: true, reason: 'ok' }, async () => '', '0.0.0.0');
    expect(log.lines.some((l) => l.level === 'warn' && /reachable from other hosts/.test(l.message))).toBe(true);
  });

  it('closes idempotently, also with a keep-alive client connected', async () => {
    const { url } = await start({ ok: true, reason: 'ok' }, { ok: true, reason: 'ok' }, async () => '');
    await get(url, '/livez');
    await server?.close();
    await server?.close();
    await expect(fetch(`${url}/livez`)).rejects.toThrow();
  });
});
