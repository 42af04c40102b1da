import { execFile } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { KeyGenMechanism, KeyType, ObjectClass } from 'graphene-pk11';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import { Pkcs11KeyAdmin } from '#src/adapters/outbound/pkcs11/pkcs11.key-admin.js';
import { Pkcs11KeyWrapper } from '#src/adapters/outbound/pkcs11/pkcs11.key-wrapper.js';
import type { Pkcs11Options } from '#src/adapters/outbound/pkcs11/pkcs11.options.js';
import {
  BackendMisconfiguredError,
  KeyVersionUnknownError,
  MalformedCiphertextError,
} from '#src/domain/model/errors.js';
import type { WrappedKey } from '#src/domain/model/key-version.js';
import { aDataKey, aSignal, recordingLogger } from '../support/builders.js';
import { importAesKey, SOFTHSM_MODULE, softHsmFixture, type SoftHsmFixture } from '../support/softhsm.fixture.js';

const clock = systemClock;
const log = recordingLogger();
const cleanups: (() => Promise<void>)[] = [];

async function fixture(label = 'keys'): Promise<SoftHsmFixture> {
  const fx = await softHsmFixture({ label });
  cleanups.push(() => fx.cleanup());
  return fx;
}
async function wrapperFor(options: Pkcs11Options): Promise<Pkcs11KeyWrapper> {
  const w = await Pkcs11KeyWrapper.open(options, log, clock);
  cleanups.push(() => w.close());
  return w;
}
async function adminFor(options: Pkcs11Options): Promise<Pkcs11KeyAdmin> {
  const a = await Pkcs11KeyAdmin.open(options, log, clock);
  cleanups.push(() => a.close());
  return a;
}
/** `kleidi init` as a separate, short-lived process would run it. */
async function initialised(fx: SoftHsmFixture): Promise<SoftHsmFixture> {
  const admin = await Pkcs11KeyAdmin.open(fx.options(), log, clock);
  await admin.init(aSignal());
  await admin.close();
  return fx;
}

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('pkcs11 key administration and key ids on SoftHSM2', () => {
  it('creates a KEK that is a sensitive, non-extractable AES-256 token key for encrypt/decrypt only', async () => {
    const fx = await initialised(await fixture());
    const attrs = fx.withSession((s) =>
      s.find({ class: ObjectClass.SECRET_KEY, label: 'kleidi-kek' }).items(0).getAttribute({
        keyType: null,
        valueLen: null,
        token: null,
        private: null,
        sensitive: null,
        extractable: null,
        encrypt: null,
        decrypt: null,
        wrap: null,
        unwrap: null,
        sign: null,
        verify: null,
        derive: null,
        id: null,
      }),
    );
    expect(attrs).toMatchObject({
      keyType: KeyType.AES,
      valueLen: 32,
      token: true,
      private: true,
      sensitive: true,
      extractable: false,
      encrypt: true,
      decrypt: true,
      wrap: false,
      unwrap: false,
      sign: false,
      verify: false,
      derive: false,
    });
    expect(attrs.id?.toString()).toBe('v1');
  });

  it('init is idempotent and never overwrites; rotate adds versions; keys lists no material', async () => {
    const fx = await fixture();
    const admin = await adminFor(fx.options());
    const first = await admin.init(aSignal());
    expect(first).toMatchObject({ created: true, current: { version: 1 } });
    expect(first.current.keyId).toMatch(/^pkcs11:kleidi-kek:v1:[0-9a-f]{16}$/);
    expect(await admin.init(aSignal())).toEqual({ created: false, current: first.current });
    const v2 = await admin.rotate(aSignal());
    const v3 = await admin.rotate(aSignal());
    expect([v2.version, v3.version]).toEqual([2, 3]);
    const list = await admin.list(aSignal());
    expect(list.map((k) => [k.version, k.current, k.note])).toEqual([
      [1, false, 'decrypt-only'],
      [2, false, 'decrypt-only'],
      [3, true, undefined],
    ]);
    for (const k of list)
      expect(Object.keys(k).sort()).toEqual(expect.arrayContaining(['current', 'keyId', 'version']));
    expect(JSON.stringify(list)).not.toMatch(/value|material/i);
  });

  it('keeps old data readable after rotation and across a restart; the server sees the rotation', async () => {
    const fx = await initialised(await fixture());
    const wrapper = await wrapperFor(fx.options());
    const v1 = await wrapper.currentVersion(aSignal());
    const seedA = aDataKey();
    const a = await wrapper.wrap(seedA, v1, aSignal());
    const admin = await adminFor(fx.options());
    await admin.rotate(aSignal());
    const v2 = await wrapper.currentVersion(aSignal()); // what the background refresh does
    expect(v2.version).toBe(2);
    expect(v2.keyId).not.toBe(v1.keyId);
    const seedB = aDataKey();
    const b = await wrapper.wrap(seedB, v2, aSignal());
    await admin.close();
    await wrapper.close();

    const restarted = await wrapperFor(fx.options()); // C_Finalize, dlclose, fresh C_Initialize
    expect(await restarted.currentVersion(aSignal())).toEqual(v2);
    expect(await restarted.unwrap(a, aSignal())).toEqual(seedA);
    expect(await restarted.unwrap(b, aSignal())).toEqual(seedB);
  });

  it('sees a version another process created on the same token at its next scan (kleidi rotate as a CLI)', async () => {
    const fx = await initialised(await fixture());
    const serving = await wrapperFor(fx.options());
    const v1 = await serving.currentVersion(aSignal());
    const seed = aDataKey();
    const old = await serving.wrap(seed, v1, aSignal());
    // Another process: pkcs11-tool (OpenSC), installed by scripts/setup-softhsm.sh.
    await promisify(execFile)(
      'pkcs11-tool',
      [
        '--module',
        SOFTHSM_MODULE,
        '--token-label',
        fx.label,
        '--login',
        '--pin',
        fx.pin,
        '--keygen',
        '--key-type',
        'AES:32',
        '--label',
        'kleidi-kek',
        '--id',
        Buffer.from('v2').toString('hex'),
        '--sensitive',
      ],
      { env: { ...process.env, SOFTHSM2_CONF: fx.conf } },
    );
    const v2 = await serving.currentVersion(aSignal());
    expect(v2.version).toBe(2);
    expect(await serving.unwrap(await serving.wrap(seed, v2, aSignal()), aSignal())).toEqual(seed);
    expect(await serving.unwrap(old, aSignal())).toEqual(seed);
    const admin = await adminFor(fx.options());
    const listed = await admin.list(aSignal());
    expect(listed.find((k) => k.version === 2)?.note).toMatch(/also permits wrap, unwrap/); // pkcs11-tool's template
  });

  it('uses a pinned version for new wraps', async () => {
    const fx = await initialised(await fixture());
    const admin = await adminFor(fx.options());
    await admin.rotate(aSignal());
    await admin.close();
    const pinned = await wrapperFor(fx.options({ keyVersion: 1 }));
    expect((await pinned.currentVersion(aSignal())).version).toBe(1);
  });

  it('refuses tampered nonces and ciphertexts moved to another version of the same key', async () => {
    const fx = await initialised(await fixture());
    const admin = await adminFor(fx.options());
    const wrapper = await wrapperFor(fx.options());
    const v1 = await wrapper.currentVersion(aSignal());
    const w = await wrapper.wrap(aDataKey(), v1, aSignal());
    if (w.payload.scheme !== 'aes-256-gcm') throw new Error('unexpected scheme');
    const nonce = new Uint8Array(w.payload.nonce);
    nonce[0] = (nonce[0] ?? 0) ^ 1;
    await expect(wrapper.unwrap({ ...w, payload: { ...w.payload, nonce } }, aSignal())).rejects.toBeInstanceOf(
      MalformedCiphertextError,
    );
    const v2 = await admin.rotate(aSignal());
    // A real key_id of this token, but not the one bound into the AAD: the tag check fails.
    await expect(wrapper.unwrap({ ...w, keyId: v2.keyId }, aSignal())).rejects.toBeInstanceOf(MalformedCiphertextError);
    await expect(wrapper.unwrap(w, aSignal())).resolves.toHaveLength(32); // and the token is still fine
  });

  it('computes the key check value any AES-GCM implementation reproduces (docs: verifying an imported key)', async () => {
    const fx = await fixture();
    const value = randomBytes(32);
    fx.withSession((s) => importAesKey(s, 1, value));
    const c = createCipheriv('aes-256-gcm', value, Buffer.from('kleidi-kcv-1'));
    c.setAAD(Buffer.from('kleidi key check value v1'));
    c.update(Buffer.alloc(16));
    c.final();
    const kcv = c.getAuthTag().subarray(0, 8).toString('hex');
    // An imported key existed outside the token: used only when the operator accepts that.
    const wrapper = await wrapperFor(fx.options({ allowPreviouslyExposedKeys: true }));
    expect((await wrapper.currentVersion(aSignal())).keyId).toBe(`pkcs11:kleidi-kek:v1:${kcv}`);
  });

  it('refuses to choose between two different keys carrying the same version', async () => {
    const fx = await fixture();
    fx.withSession((s) => {
      for (let i = 0; i < 2; i++) {
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
        });
      }
    });
    const wrapper = await wrapperFor(fx.options());
    await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(BackendMisconfiguredError);
    await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(/2 different keys are labelled 'kleidi-kek' v1/);
    const admin = await adminFor(fx.options());
    const list = await admin.list(aSignal());
    expect(list).toHaveLength(2);
    expect(list.every((k) => k.note?.includes('ambiguous'))).toBe(true);
    const v2 = await admin.rotate(aSignal()); // the documented way out
    expect(await wrapper.currentVersion(aSignal())).toEqual(v2);
  });

  it('reports a token without any KEK as misconfigured, pointing at kleidi init', async () => {
    const fx = await fixture();
    const wrapper = await wrapperFor(fx.options());
    await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(/run 'kleidi init' once/);
    const foreign: WrappedKey = {
      keyId: 'local:v1:abc' as WrappedKey['keyId'],
      payload: { scheme: 'aes-256-gcm', nonce: new Uint8Array(12), sealed: new Uint8Array(48) },
    };
    await expect(wrapper.unwrap(foreign, aSignal())).rejects.toBeInstanceOf(KeyVersionUnknownError);
  });
});
