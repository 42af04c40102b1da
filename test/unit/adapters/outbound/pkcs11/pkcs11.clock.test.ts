import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PinLatch } from '#src/adapters/outbound/pkcs11/pkcs11.latch.js';
import { pinSourceStamp, readPin } from '#src/adapters/outbound/pkcs11/pkcs11.pin.js';
import { ReconnectBackoff } from '#src/adapters/outbound/pkcs11/pkcs11.timing.js';
import { BackendMisconfiguredError, BackendUnavailableError } from '#src/domain/model/errors.js';
import type { Clock } from '#src/ports/outbound/clock.port.js';
import { recordingLogger } from '../../../../support/builders.js';
import { FakeClock } from '../../../../support/fake-clock.js';

describe('PIN latch recheck on the monotonic clock', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-latch-'));
    file = join(dir, 'pin');
    await put('1234');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  const put = async (pin: string) => {
    await writeFile(file, `${pin}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
  };

  /** A latch engaged by a C_Login that answered CKR_PIN_INCORRECT. */
  async function latched(clock: Clock): Promise<PinLatch> {
    const latch = new PinLatch({ file }, clock, recordingLogger());
    const pin = await readPin({ file });
    const stamp = await pinSourceStamp({ file });
    const refuse = () => {
      throw new pkcs11js.Pkcs11Error('CKR_PIN_INCORRECT', pkcs11js.CKR_PIN_INCORRECT, 'C_Login');
    };
    expect(() => latch.login(pin, stamp, refuse, 'C_Login')).toThrow(BackendMisconfiguredError);
    expect(latch.engaged).toBe(true);
    return latch;
  }

  it('looks at a corrected PIN file 2 s later even when the wall clock was stepped back an hour', async () => {
    const clock = new FakeClock();
    const latch = await latched(clock);
    await put('567890'); // the operator's fix
    clock.stepWall(-3_600_000); // NTP steps the clock back
    clock.advance(2_100);
    await expect(latch.check()).resolves.toBeUndefined();
    expect(latch.engaged).toBe(false);
  });

  it('does not look early when the wall clock jumps forward', async () => {
    const clock = new FakeClock();
    const latch = await latched(clock);
    await put('567890');
    clock.stepWall(3_600_000);
    clock.advance(100);
    await expect(latch.check()).rejects.toThrow(BackendMisconfiguredError);
    expect(latch.engaged).toBe(true);
    clock.advance(2_000);
    await expect(latch.check()).resolves.toBeUndefined();
  });
});

describe('PKCS#11 reconnect backoff on the monotonic clock', () => {
  it('says the next attempt is seconds away, not an hour, after the wall clock was stepped back', () => {
    const clock = new FakeClock();
    const backoff = new ReconnectBackoff(1_000, 3_000, clock);
    backoff.failed(new BackendUnavailableError('no token'));
    clock.stepWall(-3_600_000);
    expect(() => backoff.check('token')).toThrow(/next attempt in [12] s/);
    clock.advance(1_300); // the first pause is 1 s ± 20 %
    expect(() => backoff.check('token')).not.toThrow();
  });

  it('does not end the pause early when the wall clock jumps forward', () => {
    const clock = new FakeClock();
    const backoff = new ReconnectBackoff(1_000, 3_000, clock);
    backoff.failed(new BackendUnavailableError('no token'));
    clock.stepWall(3_600_000);
    expect(() => backoff.check('token')).toThrow(/next attempt in [12] s/);
  });
});
