import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeKeyId } from '#src/domain/model/key-id.js';
import { CancelledError, KeyVersionUnknownError, MalformedCiphertextError } from '#src/domain/model/errors.js';
import type { KeyVersion, WrappedKey, WrappedPayload } from '#src/domain/model/key-version.js';
import type { KeyWrapper } from '#src/ports/outbound/key-wrapper.port.js';
import { aDataKey, aSignal } from '../support/builders.js';

/**
 * The one KeyWrapper contract every backend passes, against the real thing
 * (keyring file, SoftHSM2 token, Vault server): shaped after Go CDK's
 * secrets/drivertest. Each runner supplies a harness; suites share no state.
 */
export interface KeyWrapperHarness {
  readonly name: string;
  setup(): Promise<KeyWrapperEnv>;
}

interface KeyWrapperEnv {
  readonly wrapper: KeyWrapper;
  /** Makes a new key version current in the backend (usually through its KeyAdmin). */
  rotate(): Promise<void>;
  teardown(): Promise<void>;
}

const flip = (b: Uint8Array, i: number): Uint8Array => {
  const c = new Uint8Array(b);
  c[i] = (c[i] ?? 0) ^ 0x01;
  return c;
};

function tamper(w: WrappedKey, how: 'first' | 'last' | 'truncate'): WrappedKey {
  const p: WrappedPayload = w.payload;
  const edit = (b: Uint8Array) =>
    how === 'truncate' ? b.subarray(0, b.length - 1) : flip(b, how === 'first' ? 0 : b.length - 1);
  const payload: WrappedPayload =
    p.scheme === 'aes-256-gcm' ? { ...p, sealed: edit(p.sealed) } : { ...p, blob: edit(p.blob) };
  return { keyId: w.keyId, payload };
}

export function keyWrapperContract(h: KeyWrapperHarness): void {
  describe(`KeyWrapper contract: ${h.name}`, () => {
    let env: KeyWrapperEnv;
    let w: KeyWrapper;
    let v: KeyVersion;
    beforeAll(async () => {
      env = await h.setup();
      w = env.wrapper;
      v = await w.currentVersion(aSignal());
    }, 120_000);
    afterAll(async () => {
      await env?.teardown();
    }, 60_000);

    it('round-trips a 32-byte seed', async () => {
      const seed = aDataKey();
      expect(await w.unwrap(await w.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
    });

    it('never produces the same bytes twice for the same seed', async () => {
      const seed = aDataKey();
      const [a, b] = await Promise.all([w.wrap(seed, v, aSignal()), w.wrap(seed, v, aSignal())]);
      expect(a.payload).not.toEqual(b.payload);
    });

    it('reports the version it used, which is the version it was given', async () => {
      const wrapped = await w.wrap(aDataKey(), v, aSignal());
      expect(wrapped.keyId).toBe(v.keyId);
    });

    it('answers many concurrent calls correctly', async () => {
      const seeds = Array.from({ length: 64 }, () => aDataKey());
      const wrapped = await Promise.all(seeds.map((s) => w.wrap(s, v, aSignal())));
      const back = await Promise.all(wrapped.map((x) => w.unwrap(x, aSignal())));
      expect(back).toEqual(seeds);
    });

    it.each(['first', 'last', 'truncate'] as const)('refuses a ciphertext tampered at %s', async (how) => {
      const wrapped = await w.wrap(aDataKey(), v, aSignal());
      await expect(w.unwrap(tamper(wrapped, how), aSignal())).rejects.toBeInstanceOf(MalformedCiphertextError);
    });

    it('refuses a ciphertext presented under another key_id (associated data)', async () => {
      const other = { ...v, keyId: composeKeyId(w.backend, 'other', 'v999999') };
      const wrapped = await w.wrap(aDataKey(), v, aSignal());
      await expect(w.unwrap({ ...wrapped, keyId: other.keyId }, aSignal())).rejects.toSatisfy(
        (e) => e instanceof KeyVersionUnknownError || e instanceof MalformedCiphertextError,
      );
    });

    it('rejects an already-aborted signal with its reason, without waiting', async () => {
      const ac = new AbortController();
      ac.abort(new CancelledError('test cancelled'));
      await expect(w.wrap(aDataKey(), v, ac.signal)).rejects.toBeInstanceOf(CancelledError);
      const wrapped = await w.wrap(aDataKey(), v, aSignal());
      await expect(w.unwrap(wrapped, ac.signal)).rejects.toBeInstanceOf(CancelledError);
    });

    it('rotates to a new version and still unwraps data wrapped before', async () => {
      const seed = aDataKey();
      const before = await w.wrap(seed, v, aSignal());
      await env.rotate();
      const next = await w.currentVersion(aSignal());
      expect(next.keyId).not.toBe(v.keyId);
      expect(next.version).toBeGreaterThan(v.version);
      const after = await w.wrap(seed, next, aSignal());
      expect(after.keyId).toBe(next.keyId);
      expect(await w.unwrap(before, aSignal())).toEqual(seed);
      expect(await w.unwrap(after, aSignal())).toEqual(seed);
      v = next;
    });
  });
}
