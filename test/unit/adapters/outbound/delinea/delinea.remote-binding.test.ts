import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelopeHeader } from '#src/domain/model/envelope.js';
import { MalformedCiphertextError } from '#src/domain/model/errors.js';
import { composeKeyId } from '#src/domain/model/key-id.js';
import { bindSeed, openBound } from '#src/adapters/outbound/delinea/delinea.remote-binding.js';
import { aDataKey, aSignal } from '../../../../support/builders.js';
import { credentialFile, openRemoteAdmin, openRemoteWrapper } from '../../../../support/delinea.harness-support.js';
import { type FakeDsv, startFakeDsv } from '../../../../support/fake-delinea-dsv.js';

const header = (id: string) => envelopeHeader(composeKeyId('delinea', 'remote', ...id.split(':')), 'opaque');

describe('delinea remote: the envelope header bound inside the plaintext DSV encrypts', () => {
  it('is 0x01 || SHA-256(header) || seed, and opens under the same header only', () => {
    const seed = aDataKey();
    const bound = bindSeed(header('a:v1'), seed);
    expect(bound.length).toBe(1 + 32 + seed.length);
    expect(bound[0]).toBe(0x01);
    expect(openBound(header('a:v1'), bound, 'DSV key a')).toEqual(seed);
    expect(() => openBound(header('a:v2'), bound, 'DSV key a')).toThrow(MalformedCiphertextError);
    expect(() =>
      openBound(envelopeHeader(composeKeyId('delinea', 'remote', 'a', 'v1'), 'aes-256-gcm'), bound, 'k'),
    ).toThrow(MalformedCiphertextError);
  });

  it('refuses another layout version, a bare seed and a truncated prefix', () => {
    const bound = bindSeed(header('a:v1'), aDataKey());
    const other = new Uint8Array(bound);
    other[0] = 0x02;
    expect(() => openBound(header('a:v1'), other, 'k')).toThrow(MalformedCiphertextError);
    expect(() => openBound(header('a:v1'), aDataKey(), 'k')).toThrow(MalformedCiphertextError);
    expect(() => openBound(header('a:v1'), bound.subarray(0, 33), 'k')).toThrow(MalformedCiphertextError);
  });

  describe('against the fake DSV', () => {
    let dir: string;
    let dsv: FakeDsv;
    let cred: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'kleidi-delinea-bind-'));
      dsv = await startFakeDsv({ dir });
      cred = credentialFile(dir, dsv.clientSecret);
      const admin = await openRemoteAdmin({ server: dsv, credentialFile: cred, keyPath: 'kleidi/bind' });
      await admin.init(aSignal());
      await admin.close();
    });
    afterAll(async () => {
      await dsv.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('refuses a ciphertext moved to another key_id that DSV itself would decrypt', async () => {
      // The same DSV key reached through another host name is another key_id (ADR 0013), and DSV
      // decrypts the ciphertext for either: only the bound header tells the two apart.
      const byIp = await openRemoteWrapper({ server: dsv, credentialFile: cred, keyPath: 'kleidi/bind' });
      const byName = await openRemoteWrapper({
        server: { ...dsv, url: dsv.url.replace('127.0.0.1', 'localhost') },
        credentialFile: cred,
        keyPath: 'kleidi/bind',
      });
      try {
        const [a, b] = [await byIp.currentVersion(aSignal()), await byName.currentVersion(aSignal())];
        expect(a.keyId).not.toBe(b.keyId);
        const seed = aDataKey();
        const wrapped = await byIp.wrap(seed, a, aSignal());
        expect(await byIp.unwrap(wrapped, aSignal())).toEqual(seed);
        await expect(byName.unwrap({ ...wrapped, keyId: b.keyId }, aSignal())).rejects.toBeInstanceOf(
          MalformedCiphertextError,
        );
        // The other name works for its own ciphertexts.
        expect(await byName.unwrap(await byName.wrap(seed, b, aSignal()), aSignal())).toEqual(seed);
      } finally {
        await byIp.close();
        await byName.close();
      }
    });
  });
});
