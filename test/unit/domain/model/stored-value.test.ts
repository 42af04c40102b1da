import { describe, expect, it } from 'vitest';
import { resourceKeyPrefix, resourceOfKey } from '#src/domain/model/etcd-key.js';
import { classifyStoredValue } from '#src/domain/model/stored-value.js';
import { identityProtobuf, kmsV2Value, prefixedValue } from '../../../support/stored-values.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('classifyStoredValue: how kube-apiserver stored a value, from its bytes alone', () => {
  it('reads the provider and key_id of a KMSv2 EncryptedObject, annotations and all', () => {
    expect(classifyStoredValue(kmsV2Value('kleidi', 'local:v1:abc'))).toEqual({
      kind: 'kms-v2',
      provider: 'kleidi',
      keyId: 'local:v1:abc',
    });
    const annotated = kmsV2Value('kms-b', 'aws:arn:aws:kms:eu-west-1:1:key/k', { annotations: { 'a.kleidi.io': 'x' } });
    expect(classifyStoredValue(annotated)).toEqual({
      kind: 'kms-v2',
      provider: 'kms-b',
      keyId: 'aws:arn:aws:kms:eu-west-1:1:key/k',
    });
  });

  it('names the other transformers by their prefix and provider', () => {
    expect(classifyStoredValue(prefixedValue('aescbc:v1', 'key1'))).toEqual({ kind: 'aescbc', provider: 'key1' });
    expect(classifyStoredValue(prefixedValue('aesgcm:v1', 'g'))).toEqual({ kind: 'aesgcm', provider: 'g' });
    expect(classifyStoredValue(prefixedValue('secretbox:v1', 's'))).toEqual({ kind: 'secretbox', provider: 's' });
    expect(classifyStoredValue(prefixedValue('kms:v1', 'old'))).toEqual({ kind: 'kms-v1', provider: 'old' });
  });

  it('knows the identity provider by the object serializations: protobuf, JSON and CBOR', () => {
    expect(classifyStoredValue(identityProtobuf())).toEqual({ kind: 'identity' });
    expect(classifyStoredValue(bytes('{"kind":"Secret","apiVersion":"v1"}'))).toEqual({ kind: 'identity' });
    expect(classifyStoredValue(new Uint8Array([0xd9, 0xd9, 0xf7, 0xa1]))).toEqual({ kind: 'identity' });
  });

  it('reports what it cannot read, without quoting the bytes', () => {
    const truncated = kmsV2Value('kleidi', 'local:v1:abc').subarray(0, 30);
    const r = classifyStoredValue(truncated);
    expect(r).toEqual({ kind: 'unknown', reason: 'kms-v2 value of provider kleidi is not an EncryptedObject' });
    expect(classifyStoredValue(bytes('k8s:enc:kms:v2:'))).toEqual({
      kind: 'unknown',
      reason: 'kms-v2 prefix without a provider name',
    });
    expect(classifyStoredValue(bytes('k8s:enc:rot13:v9:p:secret'))).toMatchObject({ kind: 'unknown' });
    const garbage = classifyStoredValue(bytes('SECRET-PLAINTEXT'));
    expect(garbage).toEqual({ kind: 'unknown', reason: 'neither an encryption prefix nor a Kubernetes serialization' });
  });

  it('refuses an EncryptedObject without encryptedData or keyID', () => {
    const noKeyId = new Uint8Array([...bytes('k8s:enc:kms:v2:p:'), 0x0a, 0x01, 0x00]);
    expect(classifyStoredValue(noKeyId).kind).toBe('unknown');
    const noData = new Uint8Array([...bytes('k8s:enc:kms:v2:p:'), 0x12, 0x01, 0x6b]);
    expect(classifyStoredValue(noData).kind).toBe('unknown');
  });
});

describe('resourceOfKey: the resource an etcd key belongs to', () => {
  it.each([
    ['/registry/secrets/default/db', 'secrets'],
    ['/registry/configmaps/kube-system/kube-root-ca.crt', 'configmaps'],
    ['/registry/namespaces/default', 'namespaces'],
    ['/registry/apiregistration.k8s.io/apiservices/v1.apps', 'apiservices.apiregistration.k8s.io'],
    ['/registry/example.com/widgets/default/w1', 'widgets.example.com'],
  ])('%s → %s', (key, resource) => {
    expect(resourceOfKey('/registry', key)).toBe(resource);
    expect(resourceOfKey('/registry/', key)).toBe(resource);
    expect(key.startsWith(resourceKeyPrefix('/registry', resource))).toBe(true); // and back
  });

  it('is undefined outside the prefix', () => {
    expect(resourceOfKey('/registry', '/other/secrets/a/b')).toBeUndefined();
    expect(resourceOfKey('/registry', '/registry/')).toBeUndefined();
  });
});
