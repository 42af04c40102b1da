/**
 * How kube-apiserver stored one object in etcd, read from the value's first
 * bytes — never decrypted. An encrypted value starts with the prefix of the
 * transformer that wrote it, `k8s:enc:<type>:v<N>:<provider name>:`
 * (k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go:
 * aesGCMTransformerPrefixV1, aesCBCTransformerPrefixV1,
 * secretboxTransformerPrefixV1, kmsTransformerPrefixV1,
 * kmsTransformerPrefixV2). A value the identity provider wrote is the
 * object's own serialization: Kubernetes protobuf ("k8s\0",
 * k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go
 * protoEncodingPrefix), JSON ("{"), or CBOR (the self-described CBOR tag
 * 0xd9d9f7, RFC 8949 §3.4.6, which k8s.io/apimachinery's cbor serializer
 * writes first).
 */
export type StoredEncoding =
  /** KMSv2: the EncryptedObject's keyID is the key_id the plugin returned at Encrypt. */
  | { readonly kind: 'kms-v2'; readonly provider: string; readonly keyId: string }
  | { readonly kind: 'kms-v1' | 'aescbc' | 'aesgcm' | 'secretbox'; readonly provider: string }
  | { readonly kind: 'identity' }
  /** Neither a known prefix nor a Kubernetes serialization; `reason` says what was seen, never the bytes. */
  | { readonly kind: 'unknown'; readonly reason: string };

const PREFIXES: readonly (readonly [string, Exclude<StoredEncoding['kind'], 'identity' | 'unknown'>])[] = [
  ['k8s:enc:kms:v2:', 'kms-v2'],
  ['k8s:enc:kms:v1:', 'kms-v1'],
  ['k8s:enc:aescbc:v1:', 'aescbc'],
  ['k8s:enc:aesgcm:v1:', 'aesgcm'],
  ['k8s:enc:secretbox:v1:', 'secretbox'],
];

/** A provider name is a DNS-1123 label-ish name in practice; longer heads are not a prefix. */
const MAX_HEAD = 300;

/** Classifies one stored value from its bytes alone. */
export function classifyStoredValue(raw: Uint8Array): StoredEncoding {
  const head = latin1(raw.subarray(0, MAX_HEAD));
  for (const [prefix, kind] of PREFIXES) {
    if (!head.startsWith(prefix)) continue;
    const end = head.indexOf(':', prefix.length);
    if (end < 0) return { kind: 'unknown', reason: `${kind} prefix without a provider name` };
    const provider = head.slice(prefix.length, end);
    if (kind !== 'kms-v2') return { kind, provider };
    const keyId = encryptedObjectKeyId(raw.subarray(end + 1));
    if (keyId === undefined)
      return { kind: 'unknown', reason: `kms-v2 value of provider ${provider} is not an EncryptedObject` };
    return { kind, provider, keyId };
  }
  if (head.startsWith('k8s\0') || head.startsWith('{')) return { kind: 'identity' };
  if (raw[0] === 0xd9 && raw[1] === 0xd9 && raw[2] === 0xf7) return { kind: 'identity' };
  if (head.startsWith('k8s:enc:'))
    return { kind: 'unknown', reason: `unknown transformer ${printable(head.slice(0, 40))}` };
  return { kind: 'unknown', reason: 'neither an encryption prefix nor a Kubernetes serialization' };
}

/**
 * The keyID (field 2, a string) of a KMSv2 EncryptedObject
 * (k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2/api.proto),
 * read with the protobuf wire format alone (https://protobuf.dev/programming-guides/encoding/).
 * Undefined when the bytes are not a well-formed message with a non-empty keyID
 * and encryptedData (field 1), which kube-apiserver always writes.
 */
function encryptedObjectKeyId(msg: Uint8Array): string | undefined {
  let pos = 0;
  let keyId: string | undefined;
  let hasData = false;
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      const b = msg[pos++];
      if (b === undefined) return undefined;
      if (shift < 49) value += (b & 0x7f) * 2 ** shift; // exact up to 2^53; lengths never come near
      if ((b & 0x80) === 0) return value;
    }
    return undefined;
  };
  while (pos < msg.length) {
    const tag = varint();
    if (tag === undefined || tag < 8) return undefined;
    const field = Math.floor(tag / 8);
    switch (tag % 8) {
      case 0:
        if (varint() === undefined) return undefined;
        break;
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const len = varint();
        if (len === undefined || pos + len > msg.length) return undefined;
        if (field === 1) hasData = len > 0;
        if (field === 2) keyId = new TextDecoder('utf-8', { fatal: false }).decode(msg.subarray(pos, pos + len));
        pos += len;
        break;
      }
      default:
        return undefined; // groups (3, 4) and 6, 7 do not occur in this message
    }
    if (pos > msg.length) return undefined;
  }
  return hasData && keyId !== undefined && keyId !== '' ? keyId : undefined;
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function printable(s: string): string {
  return JSON.stringify(s.replace(/[^\x20-\x7e]/g, '?'));
}
