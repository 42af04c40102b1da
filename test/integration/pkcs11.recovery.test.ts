import { chmod, writeFile } from 'node:fs/promises';
import { Module } from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import { Pkcs11KeyAdmin } from '#src/adapters/outbound/pkcs11/pkcs11.key-admin.js';
import { Pkcs11KeyWrapper } from '#src/adapters/outbound/pkcs11/pkcs11.key-wrapper.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';
import { composeKeyId } from '#src/domain/model/key-id.js';
import { KeyStateTracker } from '#src/domain/services/key-state-tracker.js';
import type { Clock } from '#src/ports/outbound/clock.port.js';
import { aDataKey, aSignal, recordingLogger } from '../support/builders.js';
import { FakeClock } from '../support/fake-clock.js';
import { SOFTHSM_MODULE, softHsmFixture, type SoftHsmFixture } from '../support/softhsm.fixture.js';

// Counts real C_Login calls into the module. pkcs11js binds its methods per instance when
// graphene constructs the PKCS11 object, so the spy goes on the native prototype before any load.
const nativeProto = Object.getPrototypeOf(pkcs11js.PKCS11.prototype) as pkcs11js.PKCS11;
const logins = vi.spyOn(nativeProto, 'C_Login');

const realClock = systemClock;
const manualClock = () => new FakeClock(Date.now());

// Both places a token call can run (docs/adr/0024): the same recovery either way.
describe.each(['thread-pool', 'event-loop'] as const)('pkcs11 adapter recovery on SoftHSM2 (%s)', (tokenCalls) => {
  let fx: SoftHsmFixture;
  const log = recordingLogger();
  // Closed after each test even when it fails, so one failure does not cascade into the next.
  const opened: Pkcs11KeyWrapper[] = [];
  const openWrapper = async (clock: Clock) => {
    const w = await Pkcs11KeyWrapper.open(fx.options({ tokenCalls }), log, clock);
    opened.push(w);
    return w;
  };
  beforeEach(async () => {
    fx = await softHsmFixture({ label: 'recovery' });
    const admin = await Pkcs11KeyAdmin.open(fx.options(), log, realClock);
    await admin.init(aSignal());
    await admin.close();
    logins.mockClear();
  });
  afterEach(async () => {
    for (const w of opened.splice(0)) await w.close();
    await fx.cleanup();
  });

  it('tries a wrong PIN exactly once, reports why, and tries again only after the PIN file changes', async () => {
    await writeFile(fx.pinFile, '9999\n');
    const clock = manualClock();
    const wrapper = await openWrapper(clock); // degraded, not fatal
    const tracker = new KeyStateTracker(wrapper, clock, log, 60_000);
    const someVersion = { keyId: composeKeyId('pkcs11', 'kleidi-kek', 'v1', '0011223344556677'), version: 1 };
    for (let i = 0; i < 20; i++) {
      await expect(wrapper.currentVersion(aSignal())).rejects.toBeInstanceOf(BackendMisconfiguredError);
      await expect(wrapper.wrap(aDataKey(), someVersion, aSignal())).rejects.toBeInstanceOf(BackendMisconfiguredError);
      clock.advance(5_000); // well past the latch's recheck interval: the file did not change
    }
    const health = await tracker.refresh(aSignal());
    expect(health.healthy).toBe(false);
    expect(health.reason).toMatch(/^backend-misconfigured: PKCS#11 login refused with CKR_PIN_INCORRECT/);
    expect(logins).toHaveBeenCalledTimes(1);

    await writeFile(fx.pinFile, `${fx.pin}\n`); // the operator fixes the PIN file
    clock.advance(5_000);
    await expect(wrapper.currentVersion(aSignal())).resolves.toMatchObject({ version: 1 });
    expect((await tracker.refresh(aSignal())).healthy).toBe(true);
    expect(logins).toHaveBeenCalledTimes(2);
  });

  it('refuses a PIN file readable by group or others before any login', async () => {
    await chmod(fx.pinFile, 0o644);
    const opening = Pkcs11KeyWrapper.open(fx.options({ tokenCalls }), log, realClock);
    await expect(opening).rejects.toBeInstanceOf(BackendMisconfiguredError);
    await expect(opening).rejects.toThrow(/has mode 0644; .*chmod 600/);
    expect(logins).not.toHaveBeenCalled();
  });

  it('answers UNAVAILABLE while the token directory is gone and recovers when it is back, without a restart', async () => {
    const wrapper = await openWrapper(realClock);
    const tracker = new KeyStateTracker(wrapper, realClock, log, 60_000);
    const v = await wrapper.currentVersion(aSignal());
    const seed = aDataKey();
    const before = await wrapper.wrap(seed, v, aSignal());
    expect((await tracker.refresh(aSignal())).healthy).toBe(true);
    logins.mockClear();

    await fx.removeToken();
    await expect(wrapper.wrap(seed, v, aSignal())).rejects.toMatchObject({ kind: 'backend-unavailable' });
    for (let i = 0; i < 10; i++) {
      await expect(wrapper.unwrap(before, aSignal())).rejects.toMatchObject({ kind: 'backend-unavailable' });
      await new Promise((r) => setTimeout(r, 30));
    }
    const down = await tracker.refresh(aSignal());
    expect(down.healthy).toBe(false);
    expect(down.reason).toMatch(/^backend-unavailable: /);
    expect(logins).not.toHaveBeenCalled(); // no token, so nothing to log in to: no storm

    await fx.restoreToken();
    await vi.waitFor(async () => expect(await wrapper.currentVersion(aSignal())).toEqual(v), {
      timeout: 5_000,
      interval: 50,
    });
    expect(await wrapper.unwrap(before, aSignal())).toEqual(seed);
    expect((await tracker.refresh(aSignal())).healthy).toBe(true);
    expect(logins).toHaveBeenCalledTimes(1);
  });

  it('reopens sessions and logs in again when the module closed them (CKR_SESSION_HANDLE_INVALID)', async () => {
    const wrapper = await openWrapper(realClock);
    const v = await wrapper.currentVersion(aSignal());
    const seed = aDataKey();
    const before = await wrapper.wrap(seed, v, aSignal());
    logins.mockClear();
    // Same process, same library: C_CloseAllSessions also closes the adapter's sessions and its login.
    const other = Module.load(SOFTHSM_MODULE);
    other.initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK }); // CKR_CRYPTOKI_ALREADY_INITIALIZED, ignored by graphene
    other.getSlots(true).items(0).closeAll();
    other.close();

    await expect(wrapper.unwrap(before, aSignal())).rejects.toMatchObject({ kind: 'backend-unavailable' });
    expect(await wrapper.unwrap(before, aSignal())).toEqual(seed);
    expect(logins).toHaveBeenCalledTimes(1);
  });
});
