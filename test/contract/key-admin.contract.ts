import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackendMisconfiguredError, CancelledError } from '#src/domain/model/errors.js';
import type { KeyVersion, KeyVersionInfo } from '#src/domain/model/key-version.js';
import type { KeyAdmin } from '#src/ports/outbound/key-admin.port.js';
import type { KeyWrapper } from '#src/ports/outbound/key-wrapper.port.js';
import { aDataKey, aSignal } from '../support/builders.js';
import { keyLifecycleContract } from './key-lifecycle.contract.js';

/**
 * The one KeyAdmin contract (src/ports/outbound/key-admin.port.ts) every
 * backend that can be administered passes, against the real thing (keyring
 * file, SoftHSM2 token, Vault server). Each runner supplies a harness; every
 * test gets an empty store of its own.
 */
export interface KeyAdminHarness {
  readonly name: string;
  /** Starts what the suite shares (a server, a token); called once. */
  open(): Promise<KeyAdminBackend>;
}

interface KeyAdminBackend {
  /** A store with no key yet (a new directory, key label or transit key name) and a KeyAdmin on it. */
  fresh(): Promise<KeyAdminStore>;
  close(): Promise<void>;
}

interface KeyAdminStore {
  readonly admin: KeyAdmin;
  /** Another KeyAdmin on the same store, as a second `kleidi rotate` would open. */
  openAdmin(): Promise<KeyAdmin>;
  /** A KeyWrapper on the same store, as `kleidi serve` would open; only called once a key exists. */
  openWrapper(): Promise<KeyWrapper>;
  /**
   * The raw bytes of every KEK version, where the backend lets a test read
   * them (the local keyring file; an exported transit key). Absent where it
   * cannot: a PKCS#11 KEK is sensitive and never leaves the token.
   */
  readonly kekMaterial?: () => Promise<readonly Uint8Array[]>;
  teardown(): Promise<void>;
}

/** The only fields a listed version may have (domain/model/key-version.ts). */
const INFO_FIELDS = new Set(['keyId', 'version', 'createdAt', 'current', 'note']);

/** Every textual form key bytes could take in JSON output. */
function forms(key: Uint8Array): string[] {
  const b = Buffer.from(key);
  return [b.toString('hex'), b.toString('base64'), b.toString('base64url'), JSON.stringify([...b]).slice(1, -1)];
}

const brief = (v: KeyVersion) => ({ keyId: v.keyId, version: v.version });

export function keyAdminContract(h: KeyAdminHarness): void {
  describe(`KeyAdmin contract: ${h.name}`, () => {
    let backend: KeyAdminBackend;
    const opened: { close(): Promise<void> }[] = [];
    let store: KeyAdminStore | undefined;

    beforeAll(async () => {
      backend = await h.open();
    }, 120_000);
    afterAll(async () => {
      await backend?.close();
    }, 60_000);
    afterEach(async () => {
      for (const x of opened.splice(0).reverse()) await x.close();
      await store?.teardown();
      store = undefined;
    }, 60_000);

    /** A fresh empty store; what the test opens on it is closed after the test. */
    async function empty(): Promise<KeyAdminStore> {
      const s = await backend.fresh();
      store = s;
      return {
        ...s,
        openAdmin: async () => track(await s.openAdmin()),
        openWrapper: async () => track(await s.openWrapper()),
      };
    }
    function track<T extends { close(): Promise<void> }>(x: T): T {
      opened.push(x);
      return x;
    }

    it('init creates the first version, and a second init reports not-created and changes nothing', async () => {
      const s = await empty();
      const first = await s.admin.init(aSignal());
      expect(first.created).toBe(true);
      const w = await s.openWrapper();
      const seed = aDataKey();
      const before = await w.wrap(seed, await w.currentVersion(aSignal()), aSignal());
      expect(before.keyId).toBe(first.current.keyId);

      const again = await s.admin.init(aSignal());
      const fromOther = await (await s.openAdmin()).init(aSignal());
      for (const r of [again, fromOther]) {
        expect(r.created).toBe(false);
        expect(brief(r.current)).toEqual(brief(first.current));
      }
      expect((await s.admin.list(aSignal())).map(brief)).toEqual([brief(first.current)]);
      expect((await w.currentVersion(aSignal())).keyId).toBe(first.current.keyId);
      expect(await w.unwrap(before, aSignal())).toEqual(seed);
      expect(await (await s.openWrapper()).unwrap(before, aSignal())).toEqual(seed);
    });

    it('concurrent inits leave exactly one version, and all of them report it', async () => {
      const s = await empty();
      const other = await s.openAdmin();
      const results = await Promise.all([s.admin.init(aSignal()), other.init(aSignal()), s.admin.init(aSignal())]);
      const listed = await s.admin.list(aSignal());
      expect(listed).toHaveLength(1);
      for (const r of results) expect(brief(r.current)).toEqual(brief(listed[0]!));
      expect(results.some((r) => r.created)).toBe(true);
    });

    it('rotate adds exactly one version and makes it current; data wrapped before still unwraps', async () => {
      const s = await empty();
      const { current: v1 } = await s.admin.init(aSignal());
      const w = await s.openWrapper();
      const seed = aDataKey();
      const before = await w.wrap(seed, await w.currentVersion(aSignal()), aSignal());
      const countBefore = (await s.admin.list(aSignal())).length;

      const v2 = await s.admin.rotate(aSignal());
      expect(v2.keyId).not.toBe(v1.keyId);
      expect(v2.version).toBeGreaterThan(v1.version);
      const listed = await s.admin.list(aSignal());
      expect(listed).toHaveLength(countBefore + 1);
      expect(listed.filter((k) => k.current).map(brief)).toEqual([brief(v2)]);
      // The wrapper sees it on its next refresh (currentVersion reads the backend, never a cache).
      expect((await w.currentVersion(aSignal())).keyId).toBe(v2.keyId);
      const after = await w.wrap(seed, v2, aSignal());
      expect(after.keyId).toBe(v2.keyId);
      expect(await w.unwrap(before, aSignal())).toEqual(seed);
      expect(await w.unwrap(after, aSignal())).toEqual(seed);
    });

    it('keys lists every version oldest first, exactly one current (the newest), as init and rotate reported them', async () => {
      const s = await empty();
      const reported: KeyVersion[] = [(await s.admin.init(aSignal())).current];
      for (let i = 0; i < 3; i++) reported.push(await s.admin.rotate(aSignal()));
      const listed = await s.admin.list(aSignal());
      expect(listed.map(brief)).toEqual(reported.map(brief));
      const versions = listed.map((k) => k.version);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      expect(new Set(versions).size).toBe(versions.length);
      expect(new Set(listed.map((k) => k.keyId)).size).toBe(listed.length);
      expect(listed.map((k) => k.current)).toEqual([false, false, false, true]);
      // A second admin on the same store lists the same versions.
      expect((await (await s.openAdmin()).list(aSignal())).map(brief)).toEqual(reported.map(brief));
    });

    it('never returns key material: only version fields, and no KEK bytes in any form', async () => {
      const s = await empty();
      const outputs: unknown[] = [await s.admin.init(aSignal()), await s.admin.rotate(aSignal())];
      const listed: readonly KeyVersionInfo[] = await s.admin.list(aSignal());
      outputs.push(listed);
      for (const info of listed) {
        for (const [field, value] of Object.entries(info)) {
          expect(INFO_FIELDS.has(field), `unexpected field ${field}`).toBe(true);
          expect(['string', 'number', 'boolean']).toContain(typeof value);
        }
      }
      const json = JSON.stringify(outputs);
      expect(json).not.toMatch(/[A-Za-z0-9+/_-]{43,}/); // no 256-bit value in base64 or hex fits a listed field
      if (s.kekMaterial) {
        const keks = await s.kekMaterial();
        expect(keks).toHaveLength(2); // the test really knows the bytes it scans for
        for (const kek of keks) for (const form of forms(kek)) expect(json).not.toContain(form);
      }
    });

    it('rotate and keys before init fail with BackendMisconfiguredError and create nothing', async () => {
      const s = await empty();
      await expect(s.admin.rotate(aSignal())).rejects.toBeInstanceOf(BackendMisconfiguredError);
      await expect(s.admin.list(aSignal())).rejects.toBeInstanceOf(BackendMisconfiguredError);
      await expect(s.admin.rotate(aSignal())).rejects.toThrow(/kleidi init/);
      // Nothing was created on the way: init still creates the first version.
      const first = await s.admin.init(aSignal());
      expect(first.created).toBe(true);
      expect(await s.admin.list(aSignal())).toHaveLength(1);
    });

    it('concurrent rotates each add exactly one version, each reporting its own', async () => {
      const s = await empty();
      const { current: v1 } = await s.admin.init(aSignal());
      const other = await s.openAdmin();
      const rotated = await Promise.all([
        s.admin.rotate(aSignal()),
        other.rotate(aSignal()),
        s.admin.rotate(aSignal()),
        other.rotate(aSignal()),
      ]);
      const listed = await s.admin.list(aSignal());
      expect(listed).toHaveLength(5);
      expect(new Set(rotated.map((v) => v.keyId)).size).toBe(4);
      expect(listed.map(brief)).toEqual([v1, ...rotated].map(brief).sort((a, b) => a.version - b.version));
      const newest = rotated.reduce((a, b) => (b.version > a.version ? b : a));
      expect(listed.filter((k) => k.current).map(brief)).toEqual([brief(newest)]);
      const w = await s.openWrapper();
      expect((await w.currentVersion(aSignal())).keyId).toBe(newest.keyId);
    });

    keyLifecycleContract(empty);

    it('an aborted signal rejects init and rotate with its reason, and changes nothing', async () => {
      const s = await empty();
      const ac = new AbortController();
      ac.abort(new CancelledError('test cancelled'));
      await expect(s.admin.init(ac.signal)).rejects.toBeInstanceOf(CancelledError);
      const { current } = await s.admin.init(aSignal());
      await expect(s.admin.rotate(ac.signal)).rejects.toBeInstanceOf(CancelledError);
      expect((await s.admin.list(aSignal())).map(brief)).toEqual([brief(current)]);
    });
  });
}
