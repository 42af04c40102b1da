import { beforeEach, describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, envelopeAnnotations } from '#src/domain/model/envelope.js';
import {
  BackendUnavailableError,
  CancelledError,
  DeadlineExceededError,
  InvalidRequestError,
  KeyVersionUnknownError,
  MalformedCiphertextError,
} from '#src/domain/model/errors.js';
import { composeKeyId } from '#src/domain/model/key-id.js';
import { EnvelopeService } from '#src/domain/services/envelope-service.js';
import { KeyStateTracker } from '#src/domain/services/key-state-tracker.js';
import type { DecryptCommand } from '#src/ports/inbound/key-management.port.js';
import { aDataKey, aSignal, recordingLogger } from '../../../support/builders.js';
import { FakeClock } from '../../../support/fake-clock.js';
import { scriptedWrapper } from './scripted-wrapper.js';

const enc = (s: string) => new TextEncoder().encode(s);
const aborted = (reason: Error) => {
  const ac = new AbortController();
  ac.abort(reason);
  return ac.signal;
};

let backend: ReturnType<typeof scriptedWrapper>;
let tracker: KeyStateTracker;
let svc: EnvelopeService;

beforeEach(async () => {
  backend = scriptedWrapper();
  tracker = new KeyStateTracker(backend.wrapper, new FakeClock(), recordingLogger(), 60_000);
  await tracker.refresh(aSignal());
  svc = new EnvelopeService(backend.wrapper, tracker);
  backend.calls.wrap = backend.calls.unwrap = 0; // the probe's calls do not count
});

async function encrypted(plaintext = aDataKey()): Promise<DecryptCommand & { plaintext: Uint8Array }> {
  const out = await svc.encrypt({ uid: 'u1', plaintext }, aSignal());
  return { uid: 'u2', keyId: out.keyId, ciphertext: out.ciphertext, annotations: out.annotations, plaintext };
}

describe('EnvelopeService.encrypt', () => {
  it('returns exactly the key_id Status reports, with kleidi’s annotation, and round-trips', async () => {
    const status = await svc.status(aSignal());
    const out = await svc.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal());
    expect(out.keyId).toBe(status.keyId);
    expect(decodeEnvelope(out.ciphertext).keyId).toBe(status.keyId);
    expect(out.annotations).toEqual(envelopeAnnotations());
    const cmd = await encrypted();
    expect(await svc.decrypt(cmd, aSignal())).toEqual(cmd.plaintext);
  });

  it('follows a rotation only after the tracker saw it, and still decrypts older ciphertexts', async () => {
    const old = await encrypted();
    await backend.inner.rotate(aSignal());
    expect((await svc.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal())).keyId).toBe(old.keyId);
    await tracker.refresh(aSignal());
    const fresh = await svc.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal());
    expect(fresh.keyId).not.toBe(old.keyId);
    expect(fresh.keyId).toBe((await svc.status(aSignal())).keyId);
    expect(await svc.decrypt(old, aSignal())).toEqual(old.plaintext);
  });

  it.each([
    ['empty', 0],
    ['1025-byte', 1025],
  ])('refuses an %s plaintext without calling the backend', async (_what, n) => {
    await expect(svc.encrypt({ uid: 'u', plaintext: new Uint8Array(n) }, aSignal())).rejects.toBeInstanceOf(
      InvalidRequestError,
    );
    expect(backend.calls.wrap).toBe(0);
  });

  it('refuses a plaintext whose envelope would exceed 1024 bytes, and accepts the largest that fits', async () => {
    const status = await svc.status(aSignal());
    const overhead = 5 + new TextEncoder().encode(status.keyId).length + 12 + 16;
    const fits = await svc.encrypt({ uid: 'u', plaintext: new Uint8Array(1024 - overhead) }, aSignal());
    expect(fits.ciphertext).toHaveLength(1024);
    await expect(svc.encrypt({ uid: 'u', plaintext: new Uint8Array(1025 - overhead) }, aSignal())).rejects.toThrow(
      InvalidRequestError,
    );
    await expect(svc.encrypt({ uid: 'u', plaintext: new Uint8Array(1000) }, aSignal())).rejects.toThrow(/at most 1024/);
  });

  it('refuses to encrypt before any key version is known', async () => {
    const fresh = new KeyStateTracker(backend.wrapper, new FakeClock(), recordingLogger(), 60_000);
    const cold = new EnvelopeService(backend.wrapper, fresh);
    await expect(cold.encrypt({ uid: 'u', plaintext: aDataKey() }, aSignal())).rejects.toBeInstanceOf(
      BackendUnavailableError,
    );
    expect(backend.calls.wrap).toBe(0);
  });

  it('rejects with the signal’s reason when already aborted', async () => {
    const reason = new CancelledError('caller left');
    await expect(svc.encrypt({ uid: 'u', plaintext: aDataKey() }, aborted(reason))).rejects.toBe(reason);
    await expect(svc.decrypt(await encrypted(), aborted(reason))).rejects.toBe(reason);
  });

  it('rejects promptly with the DeadlineExceededError when the backend never answers', async () => {
    const cmd = await encrypted();
    backend.script.hang = true;
    for (const call of [
      (s: AbortSignal) => svc.encrypt({ uid: 'u', plaintext: aDataKey() }, s),
      (s: AbortSignal) => svc.decrypt(cmd, s),
    ]) {
      const ac = new AbortController();
      const reason = new DeadlineExceededError('deadline passed');
      const started = performance.now();
      setTimeout(() => ac.abort(reason), 20);
      await expect(call(ac.signal)).rejects.toBe(reason);
      expect(performance.now() - started).toBeLessThan(1_000);
    }
  });
});

describe('EnvelopeService.decrypt', () => {
  it('refuses a key_id that does not match the envelope, without calling the backend', async () => {
    const cmd = await encrypted();
    const other = composeKeyId('in-memory', 'elsewhere', 'v1');
    await expect(svc.decrypt({ ...cmd, keyId: other }, aSignal())).rejects.toBeInstanceOf(MalformedCiphertextError);
    expect(backend.calls.unwrap).toBe(0);
  });

  it.each([
    ['a changed value', { 'version.kleidi.io': enc('2') }],
    ['a missing annotation', {}],
    ['an extra annotation', { 'version.kleidi.io': enc('1'), 'audit.example.io': enc('x') }],
  ])('refuses %s without calling the backend', async (_what, annotations) => {
    const cmd = await encrypted();
    await expect(svc.decrypt({ ...cmd, annotations }, aSignal())).rejects.toBeInstanceOf(MalformedCiphertextError);
    expect(backend.calls.unwrap).toBe(0);
  });

  it('reports a key_id the backend never issued as KeyVersionUnknownError', async () => {
    const cmd = await encrypted();
    const unknown = composeKeyId('in-memory', 'elsewhere', 'v9');
    const env = decodeEnvelope(cmd.ciphertext);
    const ciphertext = encodeEnvelope({ keyId: unknown, payload: env.payload });
    await expect(svc.decrypt({ ...cmd, keyId: unknown, ciphertext }, aSignal())).rejects.toBeInstanceOf(
      KeyVersionUnknownError,
    );
  });

  it.each([
    ['an empty key_id', (c: DecryptCommand) => ({ ...c, keyId: '' }), InvalidRequestError],
    ['an empty ciphertext', (c: DecryptCommand) => ({ ...c, ciphertext: new Uint8Array(0) }), InvalidRequestError],
    [
      'a 1025-byte ciphertext',
      (c: DecryptCommand) => ({ ...c, ciphertext: new Uint8Array(1025) }),
      InvalidRequestError,
    ],
    [
      'bytes that are no envelope',
      (c: DecryptCommand) => ({ ...c, ciphertext: enc('hello') }),
      MalformedCiphertextError,
    ],
  ])('refuses %s before the backend', async (_what, edit, type) => {
    await expect(svc.decrypt(edit(await encrypted()), aSignal())).rejects.toBeInstanceOf(type);
    expect(backend.calls.unwrap).toBe(0);
  });

  it('refuses a tampered body as MalformedCiphertextError', async () => {
    const cmd = await encrypted();
    const ciphertext = new Uint8Array(cmd.ciphertext);
    ciphertext[ciphertext.length - 1]! ^= 1;
    await expect(svc.decrypt({ ...cmd, ciphertext }, aSignal())).rejects.toBeInstanceOf(MalformedCiphertextError);
  });
});

describe('EnvelopeService.status', () => {
  it('serves the tracker’s cached report without a backend call', async () => {
    const before = { ...backend.calls };
    expect(await svc.status(aSignal())).toEqual({ version: 'v2', healthz: 'ok', keyId: tracker.writeVersion().keyId });
    expect(backend.calls).toEqual(before);
  });

  // A Promise-returning port method must report failures by rejecting, never by throwing.
  it('rejects (never throws synchronously) when the signal is already aborted', async () => {
    const reason = new CancelledError('gone');
    let out: Promise<unknown> | undefined;
    expect(() => (out = svc.status(aborted(reason)))).not.toThrow();
    await expect(out).rejects.toBe(reason);
  });

  it('rejects (never throws synchronously) when no key version is known yet', async () => {
    const cold = new EnvelopeService(
      backend.wrapper,
      new KeyStateTracker(backend.wrapper, new FakeClock(), recordingLogger(), 1),
    );
    let out: Promise<unknown> | undefined;
    expect(() => (out = cold.status(aSignal()))).not.toThrow();
    await expect(out).rejects.toBeInstanceOf(BackendUnavailableError);
  });
});
