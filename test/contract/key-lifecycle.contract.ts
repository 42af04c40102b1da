import { expect, it } from 'vitest';
import {
  InvalidRequestError,
  KeyUnusableError,
  KeyVersionUnknownError,
  OperationUnsupportedError,
} from '#src/domain/model/errors.js';
import type { KeyVersion } from '#src/domain/model/key-version.js';
import type { KeyAdmin } from '#src/ports/outbound/key-admin.port.js';
import type { KeyWrapper } from '#src/ports/outbound/key-wrapper.port.js';
import { aDataKey, aSignal } from '../support/builders.js';

/** What the lifecycle tests need of a fresh store (KeyAdminStore in key-admin.contract.ts). */
export interface LifecycleStore {
  readonly admin: KeyAdmin;
  openWrapper(): Promise<KeyWrapper>;
}

const brief = (v: KeyVersion) => ({ keyId: v.keyId, version: v.version });

/** Whether the backend can retire a version at all. */
const retires = (a: KeyAdmin) => a.retiring;

/** Either typed refusal a backend may give for a version that no longer unwraps. */
function isGone(e: unknown): boolean {
  return e instanceof KeyVersionUnknownError || e instanceof KeyUnusableError;
}

/**
 * The staging and retiring half of the KeyAdmin contract
 * (src/ports/outbound/key-admin.port.ts), run by keyAdminContract for every
 * backend against its real store. A wrapper opened after a change is what a
 * node sees once it refreshes.
 */
export function keyLifecycleContract(empty: () => Promise<LifecycleStore>): void {
  it('retire refuses the current version and an unknown one, and changes nothing', async () => {
    const s = await empty();
    const { current } = await s.admin.init(aSignal());
    const refusal = retires(s.admin) ? InvalidRequestError : OperationUnsupportedError;
    await expect(s.admin.retire(current.version, aSignal())).rejects.toBeInstanceOf(refusal);
    await expect(s.admin.retire(current.version + 1000, aSignal())).rejects.toBeInstanceOf(
      retires(s.admin) ? KeyVersionUnknownError : OperationUnsupportedError,
    );
    const listed = await s.admin.list(aSignal());
    expect(listed.map(brief)).toEqual([brief(current)]);
    expect(listed[0]?.current).toBe(true);
  });

  it('retire makes an old version unable to unwrap and leaves every other version working', async () => {
    const s = await empty();
    const { current: v1 } = await s.admin.init(aSignal());
    const w = await s.openWrapper();
    const seeds = [aDataKey(), aDataKey(), aDataKey()];
    const under1 = await w.wrap(seeds[0]!, await w.currentVersion(aSignal()), aSignal());
    const v2 = await s.admin.rotate(aSignal());
    const under2 = await w.wrap(seeds[1]!, await w.currentVersion(aSignal()), aSignal());
    const v3 = await s.admin.rotate(aSignal());
    const under3 = await w.wrap(seeds[2]!, await w.currentVersion(aSignal()), aSignal());
    expect([under1.keyId, under2.keyId, under3.keyId]).toEqual([v1.keyId, v2.keyId, v3.keyId]);
    if (!retires(s.admin)) {
      // A store that cannot retire one version says so and changes nothing.
      await expect(s.admin.retire(v1.version, aSignal())).rejects.toBeInstanceOf(OperationUnsupportedError);
      const unchanged = await s.openWrapper();
      expect(await unchanged.unwrap(under1, aSignal())).toEqual(seeds[0]);
      expect((await s.admin.list(aSignal())).map(brief)).toEqual([v1, v2, v3].map(brief));
      return;
    }

    const retired = await s.admin.retire(v1.version, aSignal());
    expect(brief(retired)).toEqual(brief(v1));
    expect(retired.action.length).toBeGreaterThan(0);

    const after = await s.openWrapper();
    await expect(after.unwrap(under1, aSignal())).rejects.toSatisfy(isGone);
    expect(await after.unwrap(under2, aSignal())).toEqual(seeds[1]);
    expect(await after.unwrap(under3, aSignal())).toEqual(seeds[2]);
    expect((await after.currentVersion(aSignal())).keyId).toBe(v3.keyId);

    const listed = await s.admin.list(aSignal());
    const one = listed.find((k) => k.keyId === v1.keyId);
    if (one) expect({ current: one.current, note: one.note }).toEqual({ current: false, note: 'retired' });
    expect(listed.filter((k) => k.current).map(brief)).toEqual([brief(v3)]);
    await expect(s.admin.retire(v1.version, aSignal())).rejects.toSatisfy(
      (e) => e instanceof InvalidRequestError || e instanceof KeyVersionUnknownError,
    );

    // The next one down may go too; the current one still may not.
    expect(brief(await s.admin.retire(v2.version, aSignal()))).toEqual(brief(v2));
    await expect((await s.openWrapper()).unwrap(under2, aSignal())).rejects.toSatisfy(isGone);
    await expect(s.admin.retire(v3.version, aSignal())).rejects.toBeInstanceOf(InvalidRequestError);
    expect(await (await s.openWrapper()).unwrap(under3, aSignal())).toEqual(seeds[2]);
  });

  it('retiring out of order is refused where versions retire oldest first, and allowed elsewhere', async () => {
    const s = await empty();
    const { current: v1 } = await s.admin.init(aSignal());
    const v2 = await s.admin.rotate(aSignal());
    await s.admin.rotate(aSignal());
    if (!retires(s.admin)) {
      await expect(s.admin.retire(v2.version, aSignal())).rejects.toBeInstanceOf(OperationUnsupportedError);
    } else if (s.admin.retireInOrder) {
      await expect(s.admin.retire(v2.version, aSignal())).rejects.toThrow(new RegExp(`\\b${v1.version}\\b`));
      await expect(s.admin.retire(v2.version, aSignal())).rejects.toBeInstanceOf(InvalidRequestError);
      expect((await s.admin.list(aSignal())).find((k) => k.keyId === v2.keyId)?.note).not.toBe('retired');
    } else {
      await s.admin.retire(v2.version, aSignal());
      const w = await s.openWrapper();
      const seed = aDataKey();
      // v1 is still live: a wrapper can use it (wrap names the version explicitly, as a late node would).
      expect(await w.unwrap(await w.wrap(seed, v1, aSignal()), aSignal())).toEqual(seed);
    }
  });

  it('two-phase rotation: a staged version unwraps everywhere but is not current until promoted', async () => {
    const s = await empty();
    const { current: v1 } = await s.admin.init(aSignal());
    if (!s.admin.staging) {
      await expect(s.admin.stage(aSignal())).rejects.toBeInstanceOf(OperationUnsupportedError);
      await expect(s.admin.promote(v1.version, aSignal())).rejects.toBeInstanceOf(OperationUnsupportedError);
      expect((await s.admin.list(aSignal())).map(brief)).toEqual([brief(v1)]);
      return;
    }
    const w = await s.openWrapper();
    const staged = await s.admin.stage(aSignal());
    expect(staged.version).toBeGreaterThan(v1.version);
    expect(staged.keyId).not.toBe(v1.keyId);
    const listed = await s.admin.list(aSignal());
    expect(listed.map((k) => ({ ...brief(k), current: k.current, note: k.note }))).toEqual([
      { ...brief(v1), current: true, note: undefined },
      { ...brief(staged), current: false, note: 'staged' },
    ]);
    expect((await w.currentVersion(aSignal())).keyId).toBe(v1.keyId);

    // A node that promoted early writes under the staged version; one that has only staged it reads that.
    const seed = aDataKey();
    const early = await (await s.openWrapper()).wrap(seed, staged, aSignal());
    expect(early.keyId).toBe(staged.keyId);
    expect(await (await s.openWrapper()).unwrap(early, aSignal())).toEqual(seed);

    // One staged version at a time, and it cannot be retired or skipped by a rotate.
    await expect(s.admin.stage(aSignal())).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(s.admin.rotate(aSignal())).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(s.admin.retire(staged.version, aSignal())).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(s.admin.promote(v1.version, aSignal())).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(s.admin.promote(staged.version + 1000, aSignal())).rejects.toBeInstanceOf(KeyVersionUnknownError);

    const promoted = await s.admin.promote(staged.version, aSignal());
    expect(brief(promoted)).toEqual(brief(staged));
    expect((await w.currentVersion(aSignal())).keyId).toBe(staged.keyId);
    const after = await s.admin.list(aSignal());
    expect(after.map((k) => ({ ...brief(k), current: k.current }))).toEqual([
      { ...brief(v1), current: false },
      { ...brief(staged), current: true },
    ]);
    expect(after[1]?.note).toBeUndefined();
    expect(await w.unwrap(early, aSignal())).toEqual(seed);
    // Promoted, it is an ordinary current version: a rotate goes above it, and v1 may be retired.
    expect((await s.admin.rotate(aSignal())).version).toBeGreaterThan(staged.version);
    await s.admin.retire(v1.version, aSignal());
  });
}
