import { describe, expect, it } from 'vitest';
import { BackendMisconfiguredError, MalformedCiphertextError } from '#src/domain/model/errors.js';
import { parseKeyId } from '#src/domain/model/key-id.js';
import { InstrumentedKeyWrapper, keyStateMetrics, outcomeOf } from '#src/domain/services/backend-metrics.js';
import type { BackendOp, BackendOutcome, Metrics } from '#src/ports/outbound/metrics.port.js';
import { aDataKey, aSignal } from '../../../support/builders.js';
import { scriptedWrapper } from './scripted-wrapper.js';

/** A Metrics fake that records what it was told. */
function recordingMetrics() {
  const ops: Array<[string, BackendOp, BackendOutcome]> = [];
  const events: string[] = [];
  const metrics = {
    observeRequest: () => undefined,
    startBackendOp: (backend, op) => (outcome) => void ops.push([backend, op, outcome]),
    setBackendHealth: (backend, healthy) => void events.push(`health ${backend} ${healthy}`),
    setCurrentKey: (backend, keyId) => void events.push(`key ${backend} ${keyId}`),
    countRotation: (backend) => void events.push(`rotation ${backend}`),
    watchCredentialExpiry: () => undefined,
    watchBackendRequests: () => undefined,
  } satisfies Metrics;
  return { metrics, ops, events };
}

describe('InstrumentedKeyWrapper', () => {
  it('records each operation with outcome ok and passes results through', async () => {
    const { wrapper } = scriptedWrapper();
    const rec = recordingMetrics();
    const w = new InstrumentedKeyWrapper(wrapper, rec.metrics);
    const seed = aDataKey();
    const v = await w.currentVersion(aSignal());
    expect(await w.unwrap(await w.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
    expect(w.backend).toBe('in-memory');
    expect(rec.ops).toEqual([
      ['in-memory', 'currentVersion', 'ok'],
      ['in-memory', 'wrap', 'ok'],
      ['in-memory', 'unwrap', 'ok'],
    ]);
  });

  it('records the error kind (never its message) and rethrows the very same error', async () => {
    const s = scriptedWrapper();
    const rec = recordingMetrics();
    const w = new InstrumentedKeyWrapper(s.wrapper, rec.metrics);
    const err = new BackendMisconfiguredError('Vault denied transit/encrypt/kleidi');
    s.script.fail = err;
    await expect(w.currentVersion(aSignal())).rejects.toBe(err);
    s.script.fail = new TypeError('a bug');
    await expect(w.wrap(aDataKey(), { keyId: parseKeyId('x'), version: 1 }, aSignal())).rejects.toThrow(TypeError);
    expect(rec.ops).toEqual([
      ['in-memory', 'currentVersion', 'backend-misconfigured'],
      ['in-memory', 'wrap', 'internal'],
    ]);
  });

  it('closes the wrapped backend', async () => {
    const s = scriptedWrapper();
    const w = new InstrumentedKeyWrapper(s.wrapper, recordingMetrics().metrics);
    await expect(w.close()).resolves.toBeUndefined();
  });
});

describe('keyStateMetrics observer', () => {
  it('reports health and the current key on refresh, rotations, and calls the next observer', () => {
    const rec = recordingMetrics();
    const seen: string[] = [];
    const obs = keyStateMetrics(rec.metrics, 'local', {
      onRefresh: () => void seen.push('refresh'),
      onRotation: () => void seen.push('rotation'),
    });
    const a = { keyId: parseKeyId('local:v1:aa'), version: 1 };
    const b = { keyId: parseKeyId('local:v2:bb'), version: 2 };
    obs.onRefresh?.({ healthy: true, lastSuccessAt: 1 }, a);
    obs.onRefresh?.({ healthy: false, reason: 'x' }, undefined);
    obs.onRotation?.(a, b);
    expect(rec.events).toEqual(['health local true', 'key local local:v1:aa', 'health local false', 'rotation local']);
    expect(seen).toEqual(['refresh', 'refresh', 'rotation']);
  });

  it('turns the health gauge down when a probe is overdue, before that probe answers', () => {
    const rec = recordingMetrics();
    const seen: string[] = [];
    const obs = keyStateMetrics(rec.metrics, 'vault', { onOverdue: () => void seen.push('overdue') });
    obs.onOverdue?.({ healthy: false, reason: 'deadline-exceeded: …', lastSuccessAt: 1 });
    expect(rec.events).toEqual(['health vault false']);
    expect(seen).toEqual(['overdue']);
  });

  it('maps outcomes to a closed set', () => {
    expect(outcomeOf(new MalformedCiphertextError('tag mismatch at byte 7'))).toBe('malformed-ciphertext');
    expect(outcomeOf('a string')).toBe('internal');
  });
});
