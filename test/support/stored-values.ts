import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/**
 * Values in the exact shapes kube-apiserver writes to etcd, for tests of
 * `kleidi usage`: the KMSv2 prefix and EncryptedObject
 * (k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2/api.proto),
 * the other transformers' prefixes, and the identity provider's serializations.
 */
export function kmsV2Value(
  provider: string,
  keyId: string,
  extra: { annotations?: Record<string, string> } = {},
): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).bytes(new Uint8Array(48).fill(7)); // encryptedData
  w.tag(2, WireType.LengthDelimited).string(keyId); // keyID
  w.tag(3, WireType.LengthDelimited).bytes(new Uint8Array(60).fill(9)); // encryptedDEKSource
  for (const [k, v] of Object.entries(extra.annotations ?? {})) {
    const e = new BinaryWriter();
    e.tag(1, WireType.LengthDelimited).string(k);
    e.tag(2, WireType.LengthDelimited).bytes(new TextEncoder().encode(v));
    w.tag(4, WireType.LengthDelimited).bytes(e.finish());
  }
  w.tag(5, WireType.Varint).int32(1); // encryptedDEKSourceType: HKDF_SHA256_XNONCE_AES_GCM_SEED
  return concat(`k8s:enc:kms:v2:${provider}:`, w.finish());
}

/** A value an older transformer wrote: its prefix, then bytes kleidi never reads. */
export function prefixedValue(
  type: 'kms:v1' | 'aescbc:v1' | 'aesgcm:v1' | 'secretbox:v1',
  provider: string,
): Uint8Array {
  return concat(`k8s:enc:${type}:${provider}:`, new Uint8Array(64).fill(3));
}

/** What the identity provider stores: the object itself, in Kubernetes protobuf ("k8s\0" + Unknown). */
export function identityProtobuf(): Uint8Array {
  return concat(
    'k8s\0',
    new Uint8Array([0x0a, 0x0b, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x05, 0x53, 0x65, 0x63, 0x72, 0x65]),
  );
}

function concat(prefix: string, body: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(prefix);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}
