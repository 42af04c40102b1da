import { describe, expect, it } from 'vitest';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';
import {
  nextEntry,
  parseRing,
  serializeRing,
  serializeRingWithout,
} from '#src/adapters/outbound/delinea/delinea.ring.js';

const now = new Date('2026-12-05T00:00:00Z');

describe('delinea KEK ring', () => {
  it('round-trips entries and appends versions above the newest', () => {
    const e1 = nextEntry(undefined, now);
    const r1 = parseRing(serializeRing(undefined, e1), 'here');
    expect(r1?.entries.map((e) => e.version)).toEqual([1]);
    const e2 = nextEntry(r1, now);
    const r2 = parseRing(serializeRing(r1, e2), 'here');
    expect(r2?.entries.map((e) => [e.version, e.id])).toEqual([
      [1, e1.id],
      [2, e2.id],
    ]);
    expect(r2?.entries[1]?.material.equals(e2.material)).toBe(true);
  });

  it('an empty field is no ring; a document that is not a ring is corrupt', () => {
    expect(parseRing('  ', 'here')).toBeUndefined();
    expect(() => parseRing('{', 'here')).toThrow(BackendMisconfiguredError);
    expect(() => parseRing('{"kind":"other","format":1,"keys":[]}', 'here')).toThrow(/corrupt/);
  });

  it('sets a malformed entry aside with its reason, keeps the others and keeps it on the next rotate', () => {
    const e1 = nextEntry(undefined, now);
    const doc = JSON.parse(serializeRing(undefined, e1)) as { keys: unknown[] };
    doc.keys.push({ version: 2, id: '00000000000000aa', createdAt: now.toISOString(), material: 'short' });
    const ring = parseRing(JSON.stringify({ ...doc, kind: 'kleidi-delinea-kek-ring', format: 1 }), 'here');
    expect(ring?.entries.map((e) => e.version)).toEqual([1]);
    expect(ring?.broken).toEqual([{ version: 2, index: 1, reason: 'material is not a base64 256-bit key' }]);
    expect(ring?.newest).toBe(2);
    const e3 = nextEntry(ring, now);
    expect(e3.version).toBe(3);
    const after = parseRing(serializeRing(ring, e3), 'here');
    expect(after?.broken.map((b) => b.version)).toEqual([2]);
    expect(after?.entries.map((e) => e.version)).toEqual([1, 3]);
  });

  it('retiring drops exactly one version, malformed entries of other versions kept byte for byte', () => {
    const e1 = nextEntry(undefined, now);
    const doc = JSON.parse(serializeRing(undefined, e1)) as { keys: unknown[] };
    const odd = { version: 2, id: '00000000000000aa', createdAt: now.toISOString(), material: 'short' };
    doc.keys.push(odd);
    const ring = parseRing(JSON.stringify({ ...doc, kind: 'kleidi-delinea-kek-ring', format: 1 }), 'here');
    const e3 = nextEntry(ring, now);
    const full = parseRing(serializeRing(ring, e3), 'here');
    if (!full) throw new Error('no ring');
    const without1 = parseRing(serializeRingWithout(full, 1), 'here');
    expect(without1?.entries.map((e) => e.version)).toEqual([3]);
    expect((JSON.parse(serializeRingWithout(full, 1)) as { keys: unknown[] }).keys[0]).toEqual(odd);
    const without2 = parseRing(serializeRingWithout(full, 2), 'here');
    expect(without2?.broken).toEqual([]);
    expect(without2?.entries.map((e) => e.version)).toEqual([1, 3]);
    expect(without2?.newest).toBe(3);
  });

  it('refuses a newer format with a message naming it', () => {
    expect(() => parseRing('{"kind":"kleidi-delinea-kek-ring","format":2,"keys":[]}', 'here')).toThrow(/format 2/);
  });
});
