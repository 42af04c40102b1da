import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BackendThrottledError,
  BackendUnavailableError,
  DeadlineExceededError,
  KeyUnusableError,
} from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../../../support/builders.js';
import {
  startFakeVault,
  vaultBodies,
  type FakeAnswer,
  type FakeRequest,
  type FakeVault,
} from '../../../../support/fake-vault.js';
import { openAdmin, openWrapper, type TestSettings } from '../../../../support/vault-transit.harness.js';
import { secretFile } from '../../../../support/vault-server.fixture.js';

let dir: string;
let fake: FakeVault | undefined;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kleidi-fake-vault-'));
});
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** A fake Vault that accepts the token and the key read, and answers transit calls with `transit`. */
async function serve(transit: (req: FakeRequest) => FakeAnswer): Promise<FakeVault> {
  fake = await startFakeVault((req) => {
    if (req.path === 'auth/token/lookup-self') return { status: 200, body: vaultBodies.lookupSelf() };
    if (req.path === 'transit/keys/kleidi' && req.method === 'GET') return { status: 200, body: vaultBodies.key() };
    return transit(req);
  });
  return fake;
}

async function settings(f: FakeVault, extra: Partial<TestSettings> = {}): Promise<TestSettings> {
  return {
    address: f.address,
    auth: { method: 'token', tokenFile: await secretFile(dir, `t${Math.random()}`, 's.fake') },
    ...extra,
  };
}

const transitCalls = (f: FakeVault) => f.requests.filter((r) => r.path.startsWith('transit/encrypt')).length;

describe('vault transit errors and bounded retries (fake server)', () => {
  it('429 → RESOURCE_EXHAUSTED after the bounded number of attempts', async () => {
    const f = await serve(() => ({ status: 429, body: vaultBodies.errors('rate limit quota exceeded') }));
    const w = await openWrapper(await settings(f, { maxAttempts: 3 }));
    const v = await w.currentVersion(aSignal());
    await expect(w.wrap(aDataKey(), v, aSignal())).rejects.toBeInstanceOf(BackendThrottledError);
    expect(transitCalls(f)).toBe(3);
    await w.close();
  });

  it.each([500, 502, 503])('%i → UNAVAILABLE, retried within the budget', async (status) => {
    const f = await serve(() => ({ status, body: vaultBodies.errors('Vault is sealed') }));
    const w = await openWrapper(await settings(f));
    const v = await w.currentVersion(aSignal());
    const started = Date.now();
    const err = await w.wrap(aDataKey(), v, aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toContain(`(${status}: Vault is sealed)`);
    expect(transitCalls(f)).toBe(3);
    expect(Date.now() - started).toBeLessThan(1_000);
    await w.close();
  });

  it('a hanging Vault: attempts time out and the whole call ends within the call budget', async () => {
    const f = await serve(() => 'hang');
    const w = await openWrapper(await settings(f, { attemptTimeoutMs: 300, callBudgetMs: 800, maxAttempts: 5 }));
    const v = await w.currentVersion(aSignal());
    const started = Date.now();
    const err = await w.wrap(aDataKey(), v, aSignal()).catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toContain('ECONNABORTED');
    expect(took).toBeGreaterThanOrEqual(550);
    expect(took).toBeLessThan(1_100);
    expect(transitCalls(f)).toBeLessThanOrEqual(3);
    await w.close();
  });

  it("the caller's deadline wins: rejects with the signal's reason without waiting for Vault", async () => {
    const f = await serve(() => 'hang');
    const w = await openWrapper(await settings(f));
    const v = await w.currentVersion(aSignal());
    const ac = new AbortController();
    setTimeout(() => ac.abort(new DeadlineExceededError('deadline')), 100);
    const started = Date.now();
    await expect(w.wrap(aDataKey(), v, ac.signal)).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(Date.now() - started).toBeLessThan(400);
    await w.close();
  });

  it('refuses a ciphertext whose vault:vN: prefix is not the version asked for (the peer race)', async () => {
    const f = await serve(() => ({ status: 200, body: vaultBodies.encrypt(2) }));
    const w = await openWrapper(await settings(f));
    const v = await w.currentVersion(aSignal());
    await expect(w.wrap(aDataKey(), v, aSignal())).rejects.toThrow(KeyUnusableError);
    expect(f.requests.find((r) => r.path === 'transit/encrypt/kleidi')?.body).toMatchObject({ key_version: 1 });
    await w.close();
  });

  it('an unexpected body (a proxy page) is UNAVAILABLE, not a crash', async () => {
    const f = await serve(() => ({ status: 200, body: { hello: 'proxy' } }));
    const w = await openWrapper(await settings(f));
    const v = await w.currentVersion(aSignal());
    await expect(w.wrap(aDataKey(), v, aSignal())).rejects.toThrow(/unexpected encrypt response/);
    await w.close();
  });

  it('a rotation is sent once, never retried (a retry could rotate twice)', async () => {
    const f = await serve(() => ({ status: 503, body: vaultBodies.errors('standby') }));
    const admin = await openAdmin(await settings(f));
    await expect(admin.rotate(aSignal())).rejects.toBeInstanceOf(BackendUnavailableError);
    expect(f.requests.filter((r) => r.path === 'transit/keys/kleidi/rotate')).toHaveLength(1);
    await admin.close();
  });

  it("a rotation reports the version in Vault's answer, not a later re-read; a 204 answer falls back to reading", async () => {
    // Vault answers a rotate with the key as it stood right after it (taken under the key's lock);
    // a re-read could already see another rotate's version.
    const withBody = await serve(() => ({ status: 200, body: vaultBodies.key(3) }));
    const admin = await openAdmin(await settings(withBody));
    expect((await admin.rotate(aSignal())).version).toBe(3);
    expect(withBody.requests.filter((r) => r.method === 'GET' && r.path === 'transit/keys/kleidi')).toHaveLength(0);
    await admin.close();
    await withBody.close();

    const noBody = await serve(() => ({ status: 204 }));
    const older = await openAdmin(await settings(noBody));
    expect((await older.rotate(aSignal())).version).toBe(1); // what the GET of the fake says
    expect(noBody.requests.filter((r) => r.method === 'GET' && r.path === 'transit/keys/kleidi')).toHaveLength(1);
    await older.close();
  });
});
