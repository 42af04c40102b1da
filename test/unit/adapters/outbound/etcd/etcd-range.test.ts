import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { decodeRangeResponse, encodeRangeRequest, prefixRangeEnd } from '#src/adapters/outbound/etcd/etcd-range.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe("etcd's KV.Range messages (api/etcdserverpb/rpc.proto)", () => {
  it('encodes key, range_end, limit and revision as fields 1 to 4', () => {
    const r = new BinaryReader(encodeRangeRequest({ key: enc('/a/'), rangeEnd: enc('/a0'), limit: 500, revision: 77 }));
    const fields: [number, unknown][] = [];
    while (r.pos < r.len) {
      const [no, wt] = r.tag();
      fields.push([no, wt === WireType.LengthDelimited ? new TextDecoder().decode(r.bytes()) : Number(r.int64())]);
    }
    expect(fields).toEqual([
      [1, '/a/'],
      [2, '/a0'],
      [3, 500],
      [4, 77],
    ]);
  });

  it('decodes the header revision, the keys and values, and `more`, skipping fields it does not use', () => {
    const header = new BinaryWriter().tag(1, WireType.Varint).uint64(9).tag(3, WireType.Varint).int64(1234).finish();
    const kv = (k: string, v: string) =>
      new BinaryWriter()
        .tag(1, WireType.LengthDelimited)
        .bytes(enc(k))
        .tag(2, WireType.Varint)
        .int64(5)
        .tag(3, WireType.Varint)
        .int64(6)
        .tag(5, WireType.LengthDelimited)
        .bytes(enc(v))
        .finish();
    const msg = new BinaryWriter()
      .tag(1, WireType.LengthDelimited)
      .bytes(header)
      .tag(2, WireType.LengthDelimited)
      .bytes(kv('/r/a', 'x'))
      .tag(2, WireType.LengthDelimited)
      .bytes(kv('/r/b', 'yy'))
      .tag(3, WireType.Varint)
      .bool(true)
      .tag(4, WireType.Varint)
      .int64(10)
      .finish();
    const res = decodeRangeResponse(msg);
    expect(res.revision).toBe(1234);
    expect(res.more).toBe(true);
    expect(res.kvs.map((x) => [new TextDecoder().decode(x.key), new TextDecoder().decode(x.value)])).toEqual([
      ['/r/a', 'x'],
      ['/r/b', 'yy'],
    ]);
  });

  it('ends a prefix range where clientv3.GetPrefixRangeEnd does', () => {
    expect(new TextDecoder().decode(prefixRangeEnd(enc('/registry/')))).toBe('/registry0');
    expect([...prefixRangeEnd(new Uint8Array([0x61, 0xff]))]).toEqual([0x62]);
    expect([...prefixRangeEnd(new Uint8Array([0xff, 0xff]))]).toEqual([0]);
  });
});
