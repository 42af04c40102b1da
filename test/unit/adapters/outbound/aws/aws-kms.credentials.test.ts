import { describe, expect, it } from 'vitest';
import {
  type AwsCredentials,
  type CredentialSource,
  RefreshingCredentials,
} from '#src/adapters/outbound/aws/aws-kms.credentials.js';
import { recordingLogger } from '../../../../support/builders.js';
import { FakeClock } from '../../../../support/fake-clock.js';

const MIN = 60_000;

/** A source issuing numbered credentials valid for `lifetimeMs` from the fake clock's now. */
function source(clock: FakeClock, lifetimeMs: number | undefined) {
  const calls: Array<{ forceRefresh?: boolean }> = [];
  let n = 0;
  let failNext = 0;
  const fn: CredentialSource = (options) => {
    calls.push({ ...(options?.forceRefresh ? { forceRefresh: true } : {}) });
    if (failNext > 0) {
      failNext--;
      return Promise.reject(new Error('STS unreachable'));
    }
    n++;
    const creds: AwsCredentials = {
      accessKeyId: `ASIA${n}`,
      secretAccessKey: `secret-${n}`,
      sessionToken: `token-${n}`,
      ...(lifetimeMs !== undefined ? { expiration: new Date(clock.now() + lifetimeMs) } : {}),
    };
    return Promise.resolve(creds);
  };
  return {
    fn,
    calls,
    failTimes: (k: number) => {
      failNext = k;
    },
  };
}

const settle = () => new Promise((ok) => setImmediate(ok));

describe('aws: refreshing credentials', () => {
  it('renews in the background once two thirds of the lifetime have passed, without making the call wait', async () => {
    const clock = new FakeClock();
    const src = source(clock, 15 * MIN);
    const rc = new RefreshingCredentials(src.fn, clock, recordingLogger());
    expect((await rc.get()).accessKeyId).toBe('ASIA1');
    clock.advance(9 * MIN); // 6 min left > 5 min margin (a third of 15 min)
    expect((await rc.get()).accessKeyId).toBe('ASIA1');
    expect(src.calls).toHaveLength(1);
    clock.advance(1.5 * MIN); // 4.5 min left: due
    expect((await rc.get()).accessKeyId).toBe('ASIA1'); // the old ones, still valid, while the new ones come
    await settle();
    expect((await rc.get()).accessKeyId).toBe('ASIA2');
    expect(src.calls[1]).toEqual({ forceRefresh: true });
    expect(rc.state()).toMatchObject({ refreshes: 1, failedRefreshes: 0 });
  });

  it('short-lived credentials renew at a third of their life, long-lived ones five minutes before expiry', async () => {
    const clock = new FakeClock();
    const short = source(clock, 60_000);
    const rc = new RefreshingCredentials(short.fn, clock, recordingLogger());
    await rc.get();
    clock.advance(39_000);
    await rc.get();
    expect(short.calls).toHaveLength(1);
    clock.advance(2_000); // 19 s left < 20 s
    await rc.get();
    await settle();
    expect(short.calls).toHaveLength(2);

    const long = source(clock, 12 * 60 * MIN);
    const rl = new RefreshingCredentials(long.fn, clock, recordingLogger());
    await rl.get();
    clock.advance(12 * 60 * MIN - 5 * MIN - 1_000);
    await rl.get();
    expect(long.calls).toHaveLength(1);
    clock.advance(2_000);
    await rl.get();
    await settle();
    expect(long.calls).toHaveLength(2);
  });

  it('a failed renewal keeps the current credentials, warns without secrets and backs off', async () => {
    const clock = new FakeClock();
    const src = source(clock, 60_000);
    const log = recordingLogger();
    const rc = new RefreshingCredentials(src.fn, clock, log);
    await rc.get();
    clock.advance(45_000);
    src.failTimes(2);
    expect((await rc.get()).accessKeyId).toBe('ASIA1');
    await settle();
    expect(log.lines.find((l) => l.level === 'warn')?.message).toContain('could not refresh AWS credentials');
    expect(JSON.stringify(log.lines)).not.toMatch(/secret-|token-1|ASIA1/);
    // Within the backoff no new attempt is made.
    await rc.get();
    await settle();
    expect(src.calls).toHaveLength(2);
    clock.advance(1_000);
    await rc.get(); // second failure
    await settle();
    clock.advance(2_000);
    expect((await rc.get()).accessKeyId).toBe('ASIA1');
    await settle();
    expect((await rc.get()).accessKeyId).toBe('ASIA2');
    expect(rc.state()).toMatchObject({ failedRefreshes: 0, refreshes: 1 });
  });

  it('waits for new credentials only when the current ones are about to expire', async () => {
    const clock = new FakeClock();
    const src = source(clock, 60_000);
    const rc = new RefreshingCredentials(src.fn, clock, recordingLogger());
    await rc.get();
    clock.advance(56_000); // 4 s left: below the 5 s floor
    expect((await rc.get()).accessKeyId).toBe('ASIA2');
  });

  it('with nothing held and the source failing, the call fails', async () => {
    const clock = new FakeClock();
    const src = source(clock, 60_000);
    src.failTimes(1);
    const rc = new RefreshingCredentials(src.fn, clock, recordingLogger());
    await expect(rc.get()).rejects.toThrow('STS unreachable');
    expect((await rc.get()).accessKeyId).toBe('ASIA1');
  });

  it('concurrent calls share one fetch; a forced refresh fetches anew', async () => {
    const clock = new FakeClock();
    const src = source(clock, 60_000);
    const rc = new RefreshingCredentials(src.fn, clock, recordingLogger());
    const all = await Promise.all([rc.get(), rc.get(), rc.get()]);
    expect(new Set(all.map((c) => c.accessKeyId))).toEqual(new Set(['ASIA1']));
    expect((await rc.forceRefresh()).accessKeyId).toBe('ASIA2');
    expect(src.calls).toHaveLength(2);
  });

  it('static credentials are never renewed and report no expiry', async () => {
    const clock = new FakeClock();
    const src = source(clock, undefined);
    const rc = new RefreshingCredentials(src.fn, clock, recordingLogger());
    await rc.get();
    clock.advance(365 * 24 * 60 * MIN);
    await rc.get();
    expect(src.calls).toHaveLength(1);
    expect(rc.expiresAt()).toBeUndefined();
  });

  it('is handed to the SDK as already memoized, and passes the caller options through', async () => {
    const clock = new FakeClock();
    const seen: unknown[] = [];
    const rc = new RefreshingCredentials(
      (o) => {
        seen.push(o);
        return Promise.resolve({ accessKeyId: 'A', secretAccessKey: 'S' });
      },
      clock,
      recordingLogger(),
    );
    const provider = rc.provider();
    expect(provider.memoized).toBe(true);
    await provider({ callerClientConfig: { region: 'eu-west-1' } });
    expect(seen[0]).toEqual({ callerClientConfig: { region: 'eu-west-1' }, forceRefresh: false });
  });
});
