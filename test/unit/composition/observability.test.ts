import { describe, expect, it } from 'vitest';
import { PrometheusMetrics } from '#src/adapters/outbound/prometheus/prometheus.metrics.js';
import { callObserver, instrumentWrapper } from '#src/composition/observability.js';
import { InstrumentedKeyWrapper } from '#src/domain/services/backend-metrics.js';
import { aSignal } from '../../support/builders.js';
import { sample } from '../../support/operations.js';
import { scriptedWrapper } from '../domain/services/scripted-wrapper.js';

describe('instrumentWrapper', () => {
  it('returns the wrapper unchanged without metrics (admin commands)', () => {
    const { wrapper } = scriptedWrapper();
    expect(instrumentWrapper(wrapper, undefined)).toBe(wrapper);
  });

  it('decorates the wrapper so backend operations are counted', async () => {
    const m = new PrometheusMetrics();
    const w = instrumentWrapper(scriptedWrapper().wrapper, m);
    expect(w).toBeInstanceOf(InstrumentedKeyWrapper);
    await w.currentVersion(aSignal());
    expect(sample(await m.render(), 'kleidi_backend_operations_total', { op: 'currentVersion', outcome: 'ok' })).toBe(
      1,
    );
  });

  it('exports the expiry of a credential from the generic hook', async () => {
    const m = new PrometheusMetrics();
    const withHook = { ...scriptedWrapper().wrapper, credentialExpiresAt: () => 1_900_000_000_000 };
    instrumentWrapper(withHook, m);
    expect(sample(await m.render(), 'kleidi_backend_token_expiry_timestamp_seconds', { backend: 'in-memory' })).toBe(
      1_900_000_000,
    );
  });

  it('exports the Vault adapter’s token expiry from details().tokenExpiresAt, and nothing without one', async () => {
    const m = new PrometheusMetrics();
    let tokenExpiresAt: string | undefined = '2030-03-17T17:46:40.000Z';
    const vaultLike = {
      ...scriptedWrapper().wrapper,
      backend: 'vault',
      details: () => ({ method: 'approle', tokenExpiresAt }),
    };
    instrumentWrapper(vaultLike, m);
    expect(sample(await m.render(), 'kleidi_backend_token_expiry_timestamp_seconds', { backend: 'vault' })).toBe(
      1_900_000_000,
    );
    tokenExpiresAt = undefined;
    expect(sample(await m.render(), 'kleidi_backend_token_expiry_timestamp_seconds')).toBeUndefined();
  });

  it('registers the request counters of an adapter that retries itself, and none for others', async () => {
    const m = new PrometheusMetrics();
    instrumentWrapper(scriptedWrapper().wrapper, m);
    expect(sample(await m.render(), 'kleidi_backend_requests_total')).toBeUndefined();
    const counts = { attempts: 3, retries: 1, throttled: 1 };
    const awsLike = { ...scriptedWrapper().wrapper, backend: 'aws', backendRequestCounts: () => counts };
    instrumentWrapper(awsLike, m);
    const text = await m.render();
    expect(sample(text, 'kleidi_backend_requests_total', { backend: 'aws' })).toBe(3);
    expect(sample(text, 'kleidi_backend_throttled_total', { backend: 'aws' })).toBe(1);
  });

  it('feeds KMS calls from the gRPC handlers into the request metrics', async () => {
    const m = new PrometheusMetrics();
    callObserver(m)('Decrypt', 'NOT_FOUND', 0.001);
    expect(sample(await m.render(), 'kleidi_kms_requests_total', { method: 'Decrypt', code: 'NOT_FOUND' })).toBe(1);
  });
});
