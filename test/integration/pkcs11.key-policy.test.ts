import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type * as grpc from '@grpc/grpc-js';
import { KeyGenMechanism, KeyType, ObjectClass, type Session } from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import { Pkcs11KeyAdmin } from '#src/adapters/outbound/pkcs11/pkcs11.key-admin.js';
import { Pkcs11KeyWrapper } from '#src/adapters/outbound/pkcs11/pkcs11.key-wrapper.js';
import type { Pkcs11Options } from '#src/adapters/outbound/pkcs11/pkcs11.options.js';
import { BackendMisconfiguredError, KeyUnusableError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal, recordingLogger } from '../support/builders.js';
import { codeOf, KmsTestClient, Status } from '../support/grpc-client.js';
import { runKleidi, tempDir } from '../support/kleidi-process.js';
import { importAesKey, SOFTHSM_MODULE, softHsmFixture, type SoftHsmFixture } from '../support/softhsm.fixture.js';

/**
 * What kleidi accepts as a key-encryption key on a PKCS#11 token, on real
 * SoftHSM2. Keys are planted the way operators make them by hand: with
 * pkcs11-tool (OpenSC) and with C_CreateObject (an imported key).
 */

const log = recordingLogger();
const cleanups: (() => Promise<void>)[] = [];
const run = promisify(execFile);

/** CKR_ACTION_PROHIBITED (PKCS#11 base v2.40 §5.1, pkcs11t.h 0x1B); pkcs11js has no constant for it. */
const CKR_ACTION_PROHIBITED = 0x1b;

async function fixture(): Promise<SoftHsmFixture> {
  const fx = await softHsmFixture({ label: 'policy' });
  // The token directory goes with the fixture: non-destroyable keys need no C_DestroyObject.
  cleanups.push(() => fx.cleanup());
  return fx;
}
async function wrapperFor(options: Pkcs11Options): Promise<Pkcs11KeyWrapper> {
  const w = await Pkcs11KeyWrapper.open(options, log, systemClock);
  cleanups.push(() => w.close());
  return w;
}
/** Runs `fn` on an admin that is closed afterwards (one connection per module and process). */
async function withAdmin<T>(options: Pkcs11Options, fn: (a: Pkcs11KeyAdmin) => Promise<T>): Promise<T> {
  const admin = await Pkcs11KeyAdmin.open(options, log, systemClock);
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

/** `pkcs11-tool --keygen` of an AES-256 key labelled like kleidi's v<version>, with extra flags. */
async function keygen(fx: SoftHsmFixture, version: number, flags: string[]): Promise<void> {
  await run(
    'pkcs11-tool',
    [
      '--module',
      SOFTHSM_MODULE,
      '--token-label',
      fx.label,
      '--login',
      '--pin', // test-only PIN on argv
      fx.pin,
      '--keygen',
      '--key-type',
      'AES:32',
      '--label',
      'kleidi-kek',
      '--id',
      Buffer.from(`v${version}`).toString('hex'),
      ...flags,
    ],
    { env: { ...process.env, SOFTHSM2_CONF: fx.conf } },
  );
}

/** An AES-256 key imported with C_CreateObject: its value existed outside the token. */
function importKey(s: Session, version: number): void {
  importAesKey(s, version, randomBytes(32));
}

/** The handles of kleidi's keys, by raw C_FindObjects (graphene has no CKA_COPYABLE/CKA_DESTROYABLE). */
function kekHandles(s: Session): Buffer[] {
  const lib = s.lib;
  lib.C_FindObjectsInit(s.handle, [{ type: pkcs11js.CKA_LABEL, value: 'kleidi-kek' }]);
  try {
    return lib.C_FindObjects(s.handle, 100);
  } finally {
    lib.C_FindObjectsFinal(s.handle);
  }
}

function boolAttr(s: Session, key: Buffer, type: number): boolean {
  const [a] = s.lib.C_GetAttributeValue(s.handle, key, [{ type }]);
  return Buffer.from(a?.value as Buffer)[0] === 1;
}

/** The CK_RV of a failed call: pkcs11js reports some codes only in the message ("CKR_VENDOR_DEFINED:27"). */
function rvOf(fn: () => unknown): number | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    const e = err as { code?: number; message: string };
    return e.code ?? Number(/:(\d+)$/.exec(e.message)?.[1]);
  }
}

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('pkcs11 KEK template: the token locks what kleidi generates', () => {
  it('generates keys with CKA_MODIFIABLE, CKA_COPYABLE and CKA_DESTROYABLE false, and SoftHSM enforces them', async () => {
    const fx = await fixture();
    await withAdmin(fx.options(), async (a) => {
      await a.init(aSignal());
      await a.rotate(aSignal());
    });
    const seen = fx.withSession((s) =>
      kekHandles(s).map((key) => ({
        modifiable: boolAttr(s, key, pkcs11js.CKA_MODIFIABLE),
        copyable: boolAttr(s, key, pkcs11js.CKA_COPYABLE),
        destroyable: boolAttr(s, key, pkcs11js.CKA_DESTROYABLE),
        relabel: rvOf(() => s.lib.C_SetAttributeValue(s.handle, key, [{ type: pkcs11js.CKA_LABEL, value: 'x' }])),
        allowDerive: rvOf(() => s.lib.C_SetAttributeValue(s.handle, key, [{ type: pkcs11js.CKA_DERIVE, value: true }])),
        copy: rvOf(() => s.lib.C_CopyObject(s.handle, key, [{ type: pkcs11js.CKA_LABEL, value: 'copy' }])),
        destroy: rvOf(() => s.lib.C_DestroyObject(s.handle, key)),
      })),
    );
    const locked = {
      modifiable: false,
      copyable: false,
      destroyable: false,
      relabel: CKR_ACTION_PROHIBITED,
      allowDerive: CKR_ACTION_PROHIBITED,
      copy: CKR_ACTION_PROHIBITED,
      destroy: CKR_ACTION_PROHIBITED,
    };
    expect(seen).toEqual([locked, locked]);
    // Still both versions, still usable.
    const wrapper = await wrapperFor(fx.options());
    const v2 = await wrapper.currentVersion(aSignal());
    expect(v2.version).toBe(2);
    const seed = aDataKey();
    expect(await wrapper.unwrap(await wrapper.wrap(seed, v2, aSignal()), aSignal())).toEqual(seed);
  });
});

describe('pkcs11 keys found on the token: refused when their value can leave, or once could', () => {
  it('refuses a key whose value can be read (pkcs11-tool --keygen --extractable), naming why and the setting', async () => {
    const fx = await fixture();
    await keygen(fx, 1, ['--extractable']);
    // The threat is real: SoftHSM hands out the value of a key neither sensitive nor unextractable.
    const value = fx.withSession((s) => {
      const [key] = kekHandles(s);
      return s.lib.C_GetAttributeValue(s.handle, key as Buffer, [{ type: pkcs11js.CKA_VALUE }])[0]?.value;
    });
    expect(value).toHaveLength(32);

    const wrapper = await wrapperFor(fx.options());
    const refused = await wrapper.currentVersion(aSignal()).then(
      (v) => v,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(BackendMisconfiguredError);
    const reason = (refused as Error).message;
    expect(reason).toMatch(
      /key 'kleidi-kek' v1 refused \(CKA_SENSITIVE false, CKA_EXTRACTABLE true\).*pkcs11\.allowExtractableKeysInsecure/,
    );
    // Status reasons are cut at 160 characters (key-state-tracker.ts): all of this one fits.
    expect(reason.length).toBeLessThanOrEqual(160);
    await wrapper.close();
    const listed = await withAdmin(fx.options(), (a) => a.list(aSignal()));
    expect(listed).toEqual([
      expect.objectContaining({
        version: 1,
        current: false,
        note: expect.stringMatching(/^refused: CKA_SENSITIVE false, CKA_EXTRACTABLE true/),
      }),
    ]);
    // Accepting previously exposed keys is not enough for a key that is readable now.
    const stillRefused = await wrapperFor(fx.options({ allowPreviouslyExposedKeys: true }));
    await expect(stillRefused.currentVersion(aSignal())).rejects.toThrow(/allowExtractableKeysInsecure/);
    await stillRefused.close();

    const accepted = await wrapperFor(fx.options({ allowExtractableKeysInsecure: true }));
    const v1 = await accepted.currentVersion(aSignal());
    const seed = aDataKey();
    expect(await accepted.unwrap(await accepted.wrap(seed, v1, aSignal()), aSignal())).toEqual(seed);
    await accepted.close();
    const noted = await withAdmin(fx.options({ allowExtractableKeysInsecure: true }), (a) => a.list(aSignal()));
    expect(noted[0]?.note).toMatch(/CKA_SENSITIVE false/);
    expect(noted[0]?.note).not.toMatch(/refused/);
  });

  it('refuses an extractable key, and one without CKA_SENSITIVE (pkcs11-tool --keygen without --sensitive)', async () => {
    const fx = await fixture();
    await keygen(fx, 1, ['--sensitive', '--extractable']);
    await keygen(fx, 2, []);
    const wrapper = await wrapperFor(fx.options());
    await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(
      /key 'kleidi-kek' v2 refused \(CKA_SENSITIVE false\).*allowExtractableKeysInsecure/,
    );
    await wrapper.close();
    const listed = await withAdmin(fx.options(), (a) => a.list(aSignal()));
    expect(listed.map((k) => k.note)).toEqual([
      expect.stringMatching(/^refused: CKA_EXTRACTABLE true/),
      expect.stringMatching(/^refused: CKA_SENSITIVE false/),
    ]);
  });

  it('refuses keys that were once exposed (imported, or made non-extractable later) unless allowPreviouslyExposedKeys', async () => {
    const fx = await fixture();
    fx.withSession((s) => {
      importKey(s, 1);
      // Generated extractable, then made non-extractable: CKA_NEVER_EXTRACTABLE stays false.
      const key = s.generateKey(KeyGenMechanism.AES, {
        class: ObjectClass.SECRET_KEY,
        keyType: KeyType.AES,
        valueLen: 32,
        token: true,
        private: true,
        sensitive: true,
        extractable: true,
        encrypt: true,
        decrypt: true,
        label: 'kleidi-kek',
        id: Buffer.from('v2'),
      });
      key.setAttribute({ extractable: false });
    });
    const wrapper = await wrapperFor(fx.options());
    await expect(wrapper.currentVersion(aSignal())).rejects.toThrow(
      /key 'kleidi-kek' v2 refused \(CKA_NEVER_EXTRACTABLE false\).*pkcs11\.allowPreviouslyExposedKeys/,
    );
    await wrapper.close();
    const listed = await withAdmin(fx.options(), (a) => a.list(aSignal()));
    expect(listed.map((k) => k.note)).toEqual([
      expect.stringMatching(/^refused: CKA_ALWAYS_SENSITIVE false, CKA_NEVER_EXTRACTABLE false/),
      expect.stringMatching(/^refused: CKA_NEVER_EXTRACTABLE false/),
    ]);

    const accepted = await wrapperFor(fx.options({ allowPreviouslyExposedKeys: true }));
    const v2 = await accepted.currentVersion(aSignal());
    expect(v2.version).toBe(2);
    const seed = aDataKey();
    expect(await accepted.unwrap(await accepted.wrap(seed, v2, aSignal()), aSignal())).toEqual(seed);
  });

  it('refuses to decrypt under a refused older version, naming why, while a generated current version serves', async () => {
    const fx = await fixture();
    fx.withSession((s) => importKey(s, 1));
    const before = await wrapperFor(fx.options({ allowPreviouslyExposedKeys: true }));
    const v1 = await before.currentVersion(aSignal());
    const seed = aDataKey();
    const old = await before.wrap(seed, v1, aSignal());
    await before.close();
    const v2 = await withAdmin(fx.options(), (a) => a.rotate(aSignal()));

    const wrapper = await wrapperFor(fx.options());
    expect(await wrapper.currentVersion(aSignal())).toEqual(v2);
    const refused = wrapper.unwrap(old, aSignal());
    await expect(refused).rejects.toBeInstanceOf(KeyUnusableError);
    await expect(refused).rejects.toThrow(/key 'kleidi-kek' v1 refused.*allowPreviouslyExposedKeys/);
    await expect(wrapper.wrap(seed, v1, aSignal())).rejects.toBeInstanceOf(KeyUnusableError);
  });
});

describe('the running process says why it refuses a key (dist/main.js)', () => {
  it('kleidi keys and Status name the refused key, the attributes and the setting; Encrypt fails', async () => {
    const fx = await fixture();
    fx.withSession((s) => importKey(s, 1));
    const env = {
      KLEIDI_BACKEND: 'pkcs11',
      KLEIDI_PKCS11_TOKEN_LABEL: fx.label,
      KLEIDI_PKCS11_PIN_FILE: fx.pinFile,
      SOFTHSM2_CONF: fx.conf,
    };
    const keys = runKleidi(['keys'], env);
    expect(await keys.exited, keys.output()).toBe(0);
    expect(keys.output()).toContain(
      '"note": "refused: CKA_ALWAYS_SENSITIVE false, CKA_NEVER_EXTRACTABLE false (accepted only with pkcs11.allowPreviouslyExposedKeys)',
    );

    const tmp = await tempDir();
    cleanups.push(() => tmp.cleanup());
    const socket = join(tmp.dir, 'kms.sock');
    const serve = runKleidi(['serve', '--socket', socket, '--state-dir', join(tmp.dir, 'state')], env);
    cleanups.push(async () => {
      serve.proc.kill('SIGTERM');
      await serve.exited;
    });
    const client = new KmsTestClient(socket);
    cleanups.push(async () => client.close());
    // kube-apiserver sees Status fail with the reason; poll until the socket answers at all.
    let refusal: grpc.ServiceError | undefined;
    for (const deadline = Date.now() + 15_000; refusal === undefined && Date.now() < deadline; ) {
      await client.status(500).then(
        () => expect.fail(`Status answered OK with a refused key:\n${serve.output()}`),
        (err: grpc.ServiceError) => {
          if (err.code !== Status.UNAVAILABLE) refusal = err;
        },
      );
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(refusal?.code, serve.output()).toBe(Status.FAILED_PRECONDITION);
    expect(refusal?.details).toMatch(
      /key 'kleidi-kek' v1 refused \(CKA_ALWAYS_SENSITIVE false, CKA_NEVER_EXTRACTABLE false\).*pkcs11\.allowPreviouslyExposedKeys/,
    );
    expect(await codeOf(client.encrypt(aDataKey()))).toBe(Status.FAILED_PRECONDITION);
  });
});
