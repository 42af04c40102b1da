import type { Session } from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import {
  findKeks,
  generateKek,
  judgeKey,
  refusedMessage,
  type KeyFlags,
  type KeyPolicy,
  type RawSession,
} from '#src/adapters/outbound/pkcs11/pkcs11.keys.js';

const strict: KeyPolicy = { allowExtractableKeysInsecure: false, allowPreviouslyExposedKeys: false };
const previously: KeyPolicy = { allowExtractableKeysInsecure: false, allowPreviouslyExposedKeys: true };
const insecure: KeyPolicy = { allowExtractableKeysInsecure: true, allowPreviouslyExposedKeys: false };

/** What `kleidi init` generates: sensitive and unextractable since birth, locked. */
const generated: KeyFlags = {
  sensitive: true,
  extractable: false,
  alwaysSensitive: true,
  neverExtractable: true,
  wrap: false,
  unwrap: false,
  derive: false,
  sign: false,
  modifiable: false,
  copyable: false,
  destroyable: false,
};
/** A key imported with C_CreateObject (values as SoftHSM 2.6.1 reports them). */
const imported: KeyFlags = { ...generated, alwaysSensitive: false, neverExtractable: false };

const rv = (code: number) => new pkcs11js.Pkcs11Error(`CKR:${code}`, code, 'C_Test');

describe('which keys found on a PKCS#11 token kleidi uses', () => {
  it('uses a generated, sensitive, never-extractable key without findings', () => {
    expect(judgeKey(generated, strict)).toEqual({ warnings: [], notes: [] });
  });

  it('refuses keys whose value can leave the token now, unless allowExtractableKeysInsecure', () => {
    const readable = {
      ...generated,
      sensitive: false,
      extractable: true,
      alwaysSensitive: false,
      neverExtractable: false,
    };
    expect(judgeKey(readable, strict).refusal).toEqual({
      why: 'CKA_SENSITIVE false, CKA_EXTRACTABLE true',
      setting: 'allowExtractableKeysInsecure',
    });
    expect(judgeKey(readable, previously).refusal?.setting).toBe('allowExtractableKeysInsecure');
    expect(judgeKey({ ...generated, extractable: true, neverExtractable: false }, strict).refusal?.why).toBe(
      'CKA_EXTRACTABLE true',
    );
    const accepted = judgeKey(readable, insecure);
    expect(accepted.refusal).toBeUndefined();
    expect(accepted.warnings).toEqual([
      'CKA_SENSITIVE false',
      'CKA_EXTRACTABLE true',
      'CKA_ALWAYS_SENSITIVE false',
      'CKA_NEVER_EXTRACTABLE false',
    ]);
  });

  it('refuses keys that once could leave the token (imported), unless either setting accepts them', () => {
    expect(judgeKey(imported, strict).refusal).toEqual({
      why: 'CKA_ALWAYS_SENSITIVE false, CKA_NEVER_EXTRACTABLE false',
      setting: 'allowPreviouslyExposedKeys',
    });
    for (const policy of [previously, insecure]) {
      const accepted = judgeKey(imported, policy);
      expect(accepted.refusal).toBeUndefined();
      expect(accepted.warnings).toEqual(['CKA_ALWAYS_SENSITIVE false', 'CKA_NEVER_EXTRACTABLE false']);
    }
  });

  it('counts an attribute the token does not report against the key', () => {
    expect(judgeKey({ ...generated, sensitive: undefined }, strict).refusal?.why).toBe('CKA_SENSITIVE unreadable');
    expect(judgeKey({ ...generated, neverExtractable: undefined }, strict).refusal?.why).toBe(
      'CKA_NEVER_EXTRACTABLE unreadable',
    );
  });

  it('notes extra usages and missing locks, which do not refuse the key', () => {
    const loose = { ...generated, wrap: true, derive: true, modifiable: true, destroyable: true, copyable: undefined };
    expect(judgeKey(loose, strict)).toEqual({
      warnings: ['also permits wrap, derive'],
      notes: ['not locked (modifiable, destroyable)'],
    });
  });

  it('says what is refused, why and both ways out within the 160 characters a status reason keeps', () => {
    const longest = [
      { why: 'CKA_SENSITIVE false, CKA_EXTRACTABLE true', setting: 'allowExtractableKeysInsecure' },
      { why: 'CKA_ALWAYS_SENSITIVE false, CKA_NEVER_EXTRACTABLE false', setting: 'allowPreviouslyExposedKeys' },
    ] as const;
    for (const r of longest) {
      const m = refusedMessage('kleidi-kek', 12, r);
      expect(m).toMatch(/^key 'kleidi-kek' v12 refused \(/);
      expect(m).toContain(r.why);
      expect(m).toContain("'kleidi rotate'");
      expect(m).toContain(`pkcs11.${r.setting}`);
      expect(m.length).toBeLessThanOrEqual(160);
    }
  });
});

/** A token's C_GenerateKey that refuses templates naming any of `unknown` attributes. */
function tokenWithout(unknown: readonly number[], other?: number) {
  const templates: pkcs11js.Template[] = [];
  const lib = {
    C_GenerateKey: (_s: Buffer, _m: pkcs11js.Mechanism, t: pkcs11js.Template) => {
      templates.push(t);
      if (other !== undefined) throw rv(other);
      if (t.some((a) => unknown.includes(a.type))) throw rv(pkcs11js.CKR_ATTRIBUTE_TYPE_INVALID);
      return Buffer.alloc(8);
    },
  };
  return { session: { lib, handle: Buffer.alloc(8) } as unknown as RawSession, templates };
}
const lockOf = (t: pkcs11js.Template | undefined) =>
  (t ?? [])
    .filter((a) => [pkcs11js.CKA_MODIFIABLE, pkcs11js.CKA_COPYABLE, pkcs11js.CKA_DESTROYABLE].includes(a.type))
    .map((a) => [a.type, a.value]);

describe('generating a KEK with lock attributes where the token supports them', () => {
  it('sets CKA_MODIFIABLE, CKA_COPYABLE and CKA_DESTROYABLE false on a token that knows them', () => {
    const t = tokenWithout([]);
    expect(generateKek(t.session, 'kek', 1)).toEqual([]);
    expect(t.templates).toHaveLength(1);
    expect(lockOf(t.templates[0])).toEqual([
      [pkcs11js.CKA_MODIFIABLE, false],
      [pkcs11js.CKA_COPYABLE, false],
      [pkcs11js.CKA_DESTROYABLE, false],
    ]);
  });

  it('on a token without CKA_COPYABLE/CKA_DESTROYABLE, still locks with CKA_MODIFIABLE and says what is missing', () => {
    const t = tokenWithout([pkcs11js.CKA_DESTROYABLE]);
    expect(generateKek(t.session, 'kek', 1)).toEqual(['CKA_COPYABLE', 'CKA_DESTROYABLE']);
    expect(lockOf(t.templates.at(-1))).toEqual([[pkcs11js.CKA_MODIFIABLE, false]]);
    const none = tokenWithout([pkcs11js.CKA_MODIFIABLE]);
    expect(generateKek(none.session, 'kek', 1)).toEqual(['CKA_MODIFIABLE', 'CKA_COPYABLE', 'CKA_DESTROYABLE']);
    expect(none.templates).toHaveLength(3);
  });

  it('does not retry a failure that is not about the template', () => {
    const t = tokenWithout([], pkcs11js.CKR_DEVICE_MEMORY);
    expect(() => generateKek(t.session, 'kek', 1)).toThrow(pkcs11js.Pkcs11Error);
    expect(t.templates).toHaveLength(1);
  });
});

/** A session holding one kleidi-labelled key whose attributes `get` answers, as C_GetAttributeValue would. */
function sessionWith(get: (types: number[]) => pkcs11js.TemplateResult): Session {
  const object = { handle: Buffer.alloc(8), getAttribute: () => ({ id: Buffer.from('v1'), valueLen: 32 }) };
  return {
    lib: { C_GetAttributeValue: (_s: Buffer, _o: Buffer, t: pkcs11js.Template) => get(t.map((a) => a.type)) },
    handle: Buffer.alloc(8),
    find: () => ({ length: 1, items: () => object }),
  } as unknown as Session;
}
const FLAG_TYPES = new Map<number, boolean>([
  [pkcs11js.CKA_SENSITIVE, true],
  [pkcs11js.CKA_EXTRACTABLE, false],
  [pkcs11js.CKA_ALWAYS_SENSITIVE, true],
  [pkcs11js.CKA_NEVER_EXTRACTABLE, true],
  [pkcs11js.CKA_MODIFIABLE, false],
]);

describe('reading key attributes from tokens that lack some', () => {
  it('asks one attribute at a time when the token rejects the combined read (CKR_ATTRIBUTE_TYPE_INVALID)', () => {
    let calls = 0;
    const session = sessionWith((types) => {
      calls++;
      if (types.some((t) => !FLAG_TYPES.has(t) && t !== pkcs11js.CKA_WRAP))
        throw rv(pkcs11js.CKR_ATTRIBUTE_TYPE_INVALID);
      return types.map((type) => ({ type, value: Buffer.from([FLAG_TYPES.get(type) ? 1 : 0]) }));
    });
    const [key] = findKeks(session, 'kek', strict, () => undefined);
    expect(key).toMatchObject({ version: 1, warnings: [], notes: [] });
    expect(key?.refusal).toBeUndefined();
    expect(calls).toBeGreaterThan(1);
  });

  it('fails the scan on a lost session instead of calling the attributes unreadable', () => {
    const session = sessionWith(() => {
      throw rv(pkcs11js.CKR_SESSION_HANDLE_INVALID);
    });
    const failed = (() => {
      try {
        findKeks(session, 'kek', strict, () => undefined);
        return undefined;
      } catch (err) {
        return err;
      }
    })();
    expect(failed).toMatchObject({ code: pkcs11js.CKR_SESSION_HANDLE_INVALID });
  });
});
