import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

/**
 * A value kube-apiserver stored through a KMSv2 provider: the prefix
 * `k8s:enc:kms:v2:<provider name>:` (k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go,
 * kmsTransformerPrefixV2) followed by the protobuf EncryptedObject of
 * k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2/api.proto:
 *   bytes encryptedData = 1; string keyID = 2; bytes encryptedDEKSource = 3;
 *   map<string, bytes> annotations = 4; EncryptedDEKSourceType encryptedDEKSourceType = 5;
 */
export interface StoredObject {
  readonly provider: string;
  readonly keyId: string;
  readonly encryptedData: Uint8Array;
  readonly encryptedDEKSource: Uint8Array;
  readonly annotations: Readonly<Record<string, Uint8Array>>;
  readonly encryptedDEKSourceType: number;
}

const PREFIX = 'k8s:enc:kms:v2:';

/** Decodes a raw etcd value; throws when it is not a KMSv2 envelope. */
export function decodeStored(raw: Uint8Array): StoredObject {
  const head = Buffer.from(raw.subarray(0, 256)).toString('latin1');
  if (!head.startsWith(PREFIX)) throw new Error(`not a KMSv2 value (starts ${JSON.stringify(head.slice(0, 24))})`);
  const end = head.indexOf(':', PREFIX.length);
  if (end < 0) throw new Error('KMSv2 prefix without a provider name');
  const provider = head.slice(PREFIX.length, end);
  const r = new BinaryReader(raw.subarray(end + 1));
  let keyId = '';
  let encryptedData: Uint8Array = new Uint8Array();
  let encryptedDEKSource: Uint8Array = new Uint8Array();
  let encryptedDEKSourceType = 0;
  const annotations: Record<string, Uint8Array> = {};
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) encryptedData = r.bytes();
    else if (no === 2 && wt === WireType.LengthDelimited) keyId = r.string();
    else if (no === 3 && wt === WireType.LengthDelimited) encryptedDEKSource = r.bytes();
    else if (no === 4 && wt === WireType.LengthDelimited) {
      const entry = new BinaryReader(r.bytes());
      let k = '';
      let v: Uint8Array = new Uint8Array();
      while (entry.pos < entry.len) {
        const [eno, ewt] = entry.tag();
        if (eno === 1) k = entry.string();
        else if (eno === 2) v = entry.bytes();
        else entry.skip(ewt);
      }
      annotations[k] = v;
    } else if (no === 5 && wt === WireType.Varint) encryptedDEKSourceType = r.int32();
    else r.skip(wt);
  }
  if (keyId === '' || encryptedData.length === 0 || encryptedDEKSource.length === 0)
    throw new Error('EncryptedObject lacks keyID, encryptedData or encryptedDEKSource');
  return { provider, keyId, encryptedData, encryptedDEKSource, annotations, encryptedDEKSourceType };
}
