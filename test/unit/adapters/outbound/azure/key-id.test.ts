import { describe, expect, it } from 'vitest';
import { bindSeed, openBoundSeed } from '#src/adapters/outbound/azure/azure.binding.js';
import { azureKeyVersion, parseAzureKeyId, refFromKid, vaultPart } from '#src/adapters/outbound/azure/azure.key-id.js';
import { envelopeHeader } from '#src/domain/model/envelope.js';
import { InvalidRequestError, MalformedCiphertextError } from '#src/domain/model/errors.js';

const VERSION = '78deebed173b48e48f55abf87ed4cf71';

describe('azure key_id', () => {
  it('names vault, key and version, and parses back', () => {
    const v = azureKeyVersion({ vault: 'my-kv.vault.azure.net', name: 'kleidi', version: VERSION }, 1_700_000_000);
    expect(v).toEqual({
      keyId: `azure:my-kv.vault.azure.net:kleidi:${VERSION}`,
      version: 1_700_000_000,
      createdAt: '2023-11-14T22:13:20.000Z',
    });
    expect(parseAzureKeyId(v.keyId)).toEqual({ vault: 'my-kv.vault.azure.net', name: 'kleidi', version: VERSION });
  });

  it('encodes a port so the key_id keeps four parts', () => {
    expect(vaultPart(new URL('https://127.0.0.1:8443'))).toBe('127.0.0.1%3A8443');
    expect(vaultPart(new URL('https://My-KV.vault.azure.net'))).toBe('my-kv.vault.azure.net');
    const ref = refFromKid(`https://127.0.0.1:8443/keys/k/${VERSION}`);
    expect(ref).toEqual({ vault: '127.0.0.1%3A8443', name: 'k', version: VERSION });
  });

  it('refuses key_ids of other backends and malformed parts', () => {
    for (const id of ['aws:x:y:z', `azure:kv:kleidi`, `azure:kv:bad_name:${VERSION}`, 'azure:kv:kleidi:notaversion']) {
      expect(parseAzureKeyId(id as never)).toBeUndefined();
    }
    expect(refFromKid('https://kv.vault.azure.net/secrets/s/abc')).toBeUndefined();
  });
});

describe('azure header binding', () => {
  const header = envelopeHeader(`azure:kv:k:${VERSION}` as never, 'opaque');
  const other = envelopeHeader(`azure:kv:k:${'0'.repeat(32)}` as never, 'opaque');

  it('opens what it bound, and never binds the same bytes twice', () => {
    const seed = new Uint8Array(32).fill(7);
    const a = bindSeed(seed, header, 8);
    const b = bindSeed(seed, header, 8);
    expect(a.length % 8).toBe(0);
    expect(a.equals(b)).toBe(false);
    expect(openBoundSeed(a, header)).toEqual(seed);
  });

  it('refuses a value bound to another header, and a seed AES key wrap cannot take', () => {
    const bound = bindSeed(new Uint8Array(32), header, 1);
    expect(() => openBoundSeed(bound, other)).toThrow(MalformedCiphertextError);
    expect(() => openBoundSeed(bound.subarray(0, 40), header)).toThrow(MalformedCiphertextError);
    expect(() => bindSeed(new Uint8Array(31), header, 8)).toThrow(InvalidRequestError);
  });
});
