import { KeyGenMechanism, KeyType, ObjectClass } from 'graphene-pk11';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import { Pkcs11KeyAdmin } from '#src/adapters/outbound/pkcs11/pkcs11.key-admin.js';
import { Pkcs11KeyWrapper } from '#src/adapters/outbound/pkcs11/pkcs11.key-wrapper.js';
import { KeyUnusableError, KeyVersionUnknownError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal, recordingLogger } from '../support/builders.js';
import { softHsmFixture, type SoftHsmFixture } from '../support/softhsm.fixture.js';

const clock = systemClock;
const log = recordingLogger();
const cleanups: (() => Promise<void>)[] = [];

async function fixture(): Promise<SoftHsmFixture> {
  const fx = await softHsmFixture({ label: 'lifecycle' });
  cleanups.push(() => fx.cleanup());
  return fx;
}
async function open(fx: SoftHsmFixture) {
  const admin = await Pkcs11KeyAdmin.open(fx.options(), log, clock);
  const wrapper = await Pkcs11KeyWrapper.open(fx.options(), log, clock);
  cleanups.push(
    () => admin.close(),
    () => wrapper.close(),
  );
  return { admin, wrapper, close: async () => void (await Promise.all([admin.close(), wrapper.close()])) };
}
/**
 * What is on the token under kleidi's label: key objects by CKA_ID, and data objects (marks) by
 * application. It initialises the module itself, so kleidi's connection must be closed first.
 */
function onToken(fx: SoftHsmFixture): { keys: string[]; marks: string[] } {
  return fx.withSession((s) => {
    const keys = s.find({ class: ObjectClass.SECRET_KEY, label: 'kleidi-kek' });
    const marks = s.find({ class: ObjectClass.DATA, label: 'kleidi-kek' });
    return {
      keys: Array.from({ length: keys.length }, (_, i) => String(keys.items(i).getAttribute('id'))).sort(),
      marks: Array.from({ length: marks.length }, (_, i) => {
        const a = marks.items(i).getAttribute({ application: null, value: null });
        return `${String(a.application)} ${String(a.value)}`;
      }).sort(),
    };
  });
}

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('pkcs11 two-phase rotation and retire on SoftHSM2 (ADR 0021)', () => {
  it('stages with a mark next to a fully locked key, and promoting destroys the mark', async () => {
    const fx = await fixture();
    const { admin, close } = await open(fx);
    const { current: v1 } = await admin.init(aSignal());
    const staged = await admin.stage(aSignal());
    await close();
    expect(onToken(fx)).toEqual({ keys: ['v1', 'v2'], marks: ['kleidi: staged key version v2'] });
    // The staged key is locked like any other: nothing about it has to change to promote it.
    const locks = fx.withSession((s) =>
      s
        .find({ class: ObjectClass.SECRET_KEY, label: 'kleidi-kek', id: Buffer.from('v2') })
        .items(0)
        .getAttribute({ modifiable: null, sensitive: null, extractable: null }),
    );
    expect(locks).toEqual({ modifiable: false, sensitive: true, extractable: false });
    const again = await open(fx);
    expect((await again.wrapper.currentVersion(aSignal())).keyId).toBe(v1.keyId);
    await again.admin.promote(staged.version, aSignal());
    expect((await again.wrapper.currentVersion(aSignal())).keyId).toBe(staged.keyId);
    await again.close();
    expect(onToken(fx)).toEqual({ keys: ['v1', 'v2'], marks: [] });
  });

  it('marks a key kleidi generated retired: the token keeps it (CKA_DESTROYABLE false), kleidi refuses it', async () => {
    const fx = await fixture();
    const { admin, wrapper, close } = await open(fx);
    const { current: v1 } = await admin.init(aSignal());
    const seed = aDataKey();
    const old = await wrapper.wrap(seed, v1, aSignal());
    await admin.rotate(aSignal());
    const retired = await admin.retire(1, aSignal());
    expect(retired.action).toMatch(/^marked retired on the token/);
    expect(retired.backup).toBeUndefined();
    await expect(wrapper.unwrap(old, aSignal())).rejects.toBeInstanceOf(KeyUnusableError);
    await expect(wrapper.wrap(seed, v1, aSignal())).rejects.toBeInstanceOf(KeyUnusableError);
    expect((await admin.list(aSignal())).map((k) => [k.version, k.note])).toEqual([
      [1, 'retired'],
      [2, undefined],
    ]);
    await close();
    expect(onToken(fx)).toEqual({ keys: ['v1', 'v2'], marks: [`kleidi: retired key ${v1.keyId}`] });
  });

  it('destroys a key the token lets go (CKA_DESTROYABLE true), leaving no mark', async () => {
    const fx = await fixture();
    // v1 as a vendor tool or an older token makes it: sensitive and unextractable, but not locked.
    fx.withSession((s) =>
      s.generateKey(KeyGenMechanism.AES, {
        class: ObjectClass.SECRET_KEY,
        keyType: KeyType.AES,
        valueLen: 32,
        token: true,
        private: true,
        sensitive: true,
        extractable: false,
        encrypt: true,
        decrypt: true,
        label: 'kleidi-kek',
        id: Buffer.from('v1'),
      }),
    );
    const { admin, wrapper, close } = await open(fx);
    const { current: v1, created } = await admin.init(aSignal());
    expect(created).toBe(false);
    const seed = aDataKey();
    const old = await wrapper.wrap(seed, v1, aSignal());
    await admin.rotate(aSignal());
    const retired = await admin.retire(1, aSignal());
    expect(retired.action).toBe('destroyed on the token (C_DestroyObject)');
    await expect(wrapper.unwrap(old, aSignal())).rejects.toBeInstanceOf(KeyVersionUnknownError);
    expect((await admin.list(aSignal())).map((k) => k.version)).toEqual([2]);
    await close();
    expect(onToken(fx)).toEqual({ keys: ['v2'], marks: [] });
  });
});
