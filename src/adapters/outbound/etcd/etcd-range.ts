import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/**
 * The one etcd v3 call `kleidi usage` makes, KV.Range, encoded by hand from
 * etcd's api/etcdserverpb/rpc.proto and api/mvccpb/kv.proto
 * (https://github.com/etcd-io/etcd/blob/main/api/etcdserverpb/rpc.proto): a
 * generated client for two messages would add a code generator and a
 * dependency for ~60 lines, and the fields used have been stable since etcd 3.0.
 */
export const RANGE_METHOD = '/etcdserverpb.KV/Range';

export interface RangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd: Uint8Array;
  readonly limit: number;
  /** 0: the newest revision. */
  readonly revision: number;
}

interface RangeKeyValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface RangeResponse {
  /** ResponseHeader.revision: the store revision the answer was read at. */
  readonly revision: number;
  readonly kvs: readonly RangeKeyValue[];
  /** More keys are in the range than `limit` returned. */
  readonly more: boolean;
}

export function encodeRangeRequest(r: RangeRequest): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).bytes(r.key); // bytes key = 1
  w.tag(2, WireType.LengthDelimited).bytes(r.rangeEnd); // bytes range_end = 2
  if (r.limit > 0) w.tag(3, WireType.Varint).int64(r.limit); // int64 limit = 3
  if (r.revision > 0) w.tag(4, WireType.Varint).int64(r.revision); // int64 revision = 4
  return w.finish();
}

export function decodeRangeResponse(buf: Uint8Array): RangeResponse {
  const r = new BinaryReader(buf);
  let revision = 0;
  let more = false;
  const kvs: RangeKeyValue[] = [];
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) revision = headerRevision(r.bytes());
    else if (no === 2 && wt === WireType.LengthDelimited) kvs.push(keyValue(r.bytes()));
    else if (no === 3 && wt === WireType.Varint) more = r.bool();
    else r.skip(wt);
  }
  return { revision, kvs, more };
}

/** ResponseHeader { uint64 cluster_id = 1; uint64 member_id = 2; int64 revision = 3; uint64 raft_term = 4; } */
function headerRevision(buf: Uint8Array): number {
  const r = new BinaryReader(buf);
  let revision = 0;
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 3 && wt === WireType.Varint) revision = Number(r.int64());
    else r.skip(wt);
  }
  return revision;
}

/** mvccpb.KeyValue { bytes key = 1; int64 create_revision = 2; int64 mod_revision = 3; int64 version = 4; bytes value = 5; int64 lease = 6; } */
function keyValue(buf: Uint8Array): RangeKeyValue {
  const r = new BinaryReader(buf);
  let key: Uint8Array = new Uint8Array();
  let value: Uint8Array = new Uint8Array();
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) key = r.bytes();
    else if (no === 5 && wt === WireType.LengthDelimited) value = r.bytes();
    else r.skip(wt);
  }
  return { key, value };
}

/** The end of the range of every key that starts with `prefix`: the prefix with its last byte plus one (etcd's clientv3.GetPrefixRangeEnd). */
export function prefixRangeEnd(prefix: Uint8Array): Uint8Array {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] ?? 0) < 0xff) {
      end[i] = (end[i] ?? 0) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]); // every byte 0xff: to the end of the keyspace
}
