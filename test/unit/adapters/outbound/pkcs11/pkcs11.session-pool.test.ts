import { describe, expect, it } from 'vitest';
import { SessionPool } from '#src/adapters/outbound/pkcs11/pkcs11.session-pool.js';
import { CancelledError } from '#src/domain/model/errors.js';

/** Plain handles: the pool's rules do not depend on the token, which the integration tests cover. */
function harness(size: number, failOpen = () => false) {
  let next = 0;
  const closed: number[] = [];
  const pool = new SessionPool(
    size,
    () => {
      if (failOpen()) throw new Error('C_OpenSession failed');
      return Buffer.from([next++]);
    },
    (s) => void closed.push(s[0] ?? -1),
  );
  return { pool, closed, opened: () => next };
}
const tick = () => new Promise((r) => setTimeout(r, 1));

describe('SessionPool', () => {
  it('never runs two operations on one session and never opens more than its size', async () => {
    const { pool, opened } = harness(3);
    const inUse = new Set<number>();
    let peak = 0;
    await Promise.all(
      Array.from({ length: 50 }, () =>
        pool.use(AbortSignal.timeout(5_000), async (s) => {
          const id = s[0] ?? -1;
          expect(inUse.has(id)).toBe(false);
          inUse.add(id);
          peak = Math.max(peak, inUse.size);
          await tick();
          inUse.delete(id);
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(opened()).toBe(3);
  });

  it('closes a session whose operation failed and opens a fresh one', async () => {
    const { pool, closed } = harness(1);
    await expect(
      pool.use(AbortSignal.timeout(1_000), () => Promise.reject(new Error('CKR_ARGUMENTS_BAD'))),
    ).rejects.toThrow();
    expect(closed).toEqual([0]);
    expect(await pool.use(AbortSignal.timeout(1_000), async (s) => s[0])).toBe(1);
  });

  it('stops waiting when the caller aborts, with the abort reason', async () => {
    const { pool } = harness(1);
    let release!: () => void;
    const busy = pool.use(AbortSignal.timeout(5_000), () => new Promise<void>((r) => (release = r)));
    const ac = new AbortController();
    const waiting = pool.use(ac.signal, async () => 'ran');
    ac.abort(new CancelledError('gone'));
    await expect(waiting).rejects.toBeInstanceOf(CancelledError);
    release();
    await busy;
    expect(pool.load).toEqual({ busy: 0, waiting: 0, open: 1 });
  });

  it('fails every waiter when no new session can be opened', async () => {
    let broken = false;
    const { pool } = harness(1, () => broken);
    let release!: () => void;
    const busy = pool.use(
      AbortSignal.timeout(5_000),
      () => new Promise<void>((_, reject) => (release = () => reject(new Error('x')))),
    );
    const waiters = [1, 2, 3].map(() => pool.use(AbortSignal.timeout(5_000), async () => 'ran'));
    await tick(); // the first operation starts after acquire settles
    broken = true;
    release();
    await expect(busy).rejects.toThrow('x');
    for (const w of waiters) await expect(w).rejects.toThrow('C_OpenSession failed');
  });

  it('shuts down after in-flight calls finish and refuses new ones', async () => {
    const { pool, closed } = harness(2);
    let release!: () => void;
    const busy = pool.use(AbortSignal.timeout(5_000), () => new Promise<void>((r) => (release = r)));
    await pool.use(AbortSignal.timeout(1_000), async () => undefined); // leaves one idle session
    const down = pool.shutdown(5_000);
    await expect(pool.use(AbortSignal.timeout(1_000), async () => 'ran')).rejects.toMatchObject({
      kind: 'backend-unavailable',
    });
    release();
    await busy;
    expect(await down).toBe(true);
    expect(closed.sort()).toEqual([0, 1]);
  });

  it('reports when in-flight calls outlive the drain period', async () => {
    const { pool } = harness(1);
    void pool.use(AbortSignal.timeout(5_000), () => new Promise<void>(() => undefined));
    expect(await pool.shutdown(20)).toBe(false);
  });
});
