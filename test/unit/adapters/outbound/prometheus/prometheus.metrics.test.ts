import { describe, expect, it } from 'vitest';
import { PrometheusMetrics } from '#src/adapters/outbound/prometheus/prometheus.metrics.js';
import { parseKeyId } from '#src/domain/model/key-id.js';
import { sample } from '../../../../support/operations.js';

describe('PrometheusMetrics', () => {
  it('counts requests by method and code and observes their latency', async () => {
    const m = new PrometheusMetrics();
    m.observeRequest('Encrypt', 'OK', 0.002);
    m.observeRequest('Encrypt', 'OK', 0.004);
    m.observeRequest('Decrypt', 'NOT_FOUND', 0.0001);
    const text = await m.render();
    expect(sample(text, 'kleidi_kms_requests_total', { method: 'Encrypt', code: 'OK' })).toBe(2);
    expect(sample(text, 'kleidi_kms_requests_total', { method: 'Decrypt', code: 'NOT_FOUND' })).toBe(1);
    expect(sample(text, 'kleidi_kms_request_duration_seconds_sum', { method: 'Encrypt', code: 'OK' })).toBeCloseTo(
      0.006,
    );
    expect(
      sample(text, 'kleidi_kms_request_duration_seconds_bucket', { method: 'Encrypt', code: 'OK', le: '0.0025' }),
    ).toBe(1);
  });

  it('times a backend operation once, however often its end is called', async () => {
    const m = new PrometheusMetrics();
    const done = m.startBackendOp('vault', 'unwrap');
    done('backend-throttled');
    done('ok');
    const text = await m.render();
    expect(
      sample(text, 'kleidi_backend_operations_total', { backend: 'vault', op: 'unwrap', outcome: 'backend-throttled' }),
    ).toBe(1);
    expect(sample(text, 'kleidi_backend_operations_total', { outcome: 'ok' })).toBeUndefined();
    expect(sample(text, 'kleidi_backend_operation_duration_seconds_count', { op: 'unwrap' })).toBe(1);
  });

  it('keeps exactly one current-key series, and shows the rotation counter from the first refresh', async () => {
    const m = new PrometheusMetrics();
    m.setBackendHealth('local', true, 1_700_000_000_000);
    m.setCurrentKey('local', parseKeyId('local:v1:aa'));
    m.setCurrentKey('local', parseKeyId('local:v1:aa'));
    let text = await m.render();
    expect(sample(text, 'kleidi_key_rotations_total', { backend: 'local' })).toBe(0);
    expect(sample(text, 'kleidi_backend_last_success_timestamp_seconds')).toBe(1_700_000_000);
    m.setCurrentKey('local', parseKeyId('local:v2:bb'));
    m.countRotation('local');
    m.setBackendHealth('local', false, undefined);
    text = await m.render();
    expect(sample(text, 'kleidi_current_key_info', { key_id: 'local:v1:aa' })).toBeUndefined();
    expect(sample(text, 'kleidi_current_key_info', { backend: 'local', key_id: 'local:v2:bb' })).toBe(1);
    expect(sample(text, 'kleidi_key_rotations_total', { backend: 'local' })).toBe(1);
    expect(sample(text, 'kleidi_backend_healthy', { backend: 'local' })).toBe(0);
    expect(sample(text, 'kleidi_backend_last_success_timestamp_seconds')).toBe(1_700_000_000);
  });

  it('reads the credential expiry at scrape time, and drops the sample when there is none', async () => {
    const m = new PrometheusMetrics();
    let expiresAt: number | undefined = 1_800_000_000_000;
    m.watchCredentialExpiry('vault', () => expiresAt);
    expect(sample(await m.render(), 'kleidi_backend_token_expiry_timestamp_seconds', { backend: 'vault' })).toBe(
      1_800_000_000,
    );
    expiresAt = 1_800_000_600_000; // renewed
    expect(sample(await m.render(), 'kleidi_backend_token_expiry_timestamp_seconds', { backend: 'vault' })).toBe(
      1_800_000_600,
    );
    expiresAt = undefined; // a token that never expires, or none held
    expect(sample(await m.render(), 'kleidi_backend_token_expiry_timestamp_seconds')).toBeUndefined();
  });

  it('survives a failing expiry reader: a scrape never breaks', async () => {
    const m = new PrometheusMetrics();
    m.watchCredentialExpiry('vault', () => {
      throw new Error('boom');
    });
    await expect(m.render()).resolves.toContain('kleidi_backend_token_expiry_timestamp_seconds');
  });

  it("copies the adapter's request, retry and throttle counts at scrape time", async () => {
    const m = new PrometheusMetrics();
    const counts = { attempts: 0, retries: 0, throttled: 0 };
    m.watchBackendRequests('aws', () => counts);
    let text = await m.render();
    expect(sample(text, 'kleidi_backend_requests_total', { backend: 'aws' })).toBe(0);
    expect(sample(text, 'kleidi_backend_throttled_total', { backend: 'aws' })).toBe(0);
    // Two calls: the first succeeded at once, the second after two throttled attempts.
    Object.assign(counts, { attempts: 4, retries: 2, throttled: 2 });
    text = await m.render();
    expect(sample(text, 'kleidi_backend_requests_total', { backend: 'aws' })).toBe(4);
    expect(sample(text, 'kleidi_backend_request_retries_total', { backend: 'aws' })).toBe(2);
    expect(sample(text, 'kleidi_backend_throttled_total', { backend: 'aws' })).toBe(2);
    // A second scrape without new requests reports the same totals, not twice them.
    expect(sample(await m.render(), 'kleidi_backend_requests_total', { backend: 'aws' })).toBe(4);
  });

  it('survives a failing request-count reader: a scrape never breaks', async () => {
    const m = new PrometheusMetrics();
    m.watchBackendRequests('aws', () => {
      throw new Error('boom');
    });
    const text = await m.render();
    expect(text).toContain('kleidi_backend_requests_total');
    expect(sample(text, 'kleidi_backend_requests_total', { backend: 'aws' })).toBeUndefined();
  });

  it('uses its own registry: two instances in one process do not collide', async () => {
    const a = new PrometheusMetrics({ version: '1' });
    const b = new PrometheusMetrics({ version: '2' });
    a.observeRequest('Status', 'OK', 0);
    expect(sample(await b.render(), 'kleidi_kms_requests_total')).toBeUndefined();
    expect(sample(await a.render(), 'kleidi_build_info', { version: '1' })).toBe(1);
    expect(a.contentType).toMatch(/^text\/plain/);
  });
});
