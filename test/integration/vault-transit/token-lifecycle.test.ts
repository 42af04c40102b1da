import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VaultTransitKeyWrapper } from '#src/adapters/outbound/vault-transit/vault-transit.key-wrapper.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import { startCountingProxy, type CountingProxy } from '../../support/counting-proxy.js';
import { createToken, minimalPolicy, setUpAppRole, writePolicy } from '../../support/vault-auth.fixture.js';
import { secretFile, setUpTransit, startDevVault, type VaultServer } from '../../support/vault-server.fixture.js';
import { openWrapper } from '../../support/vault-transit.harness.js';

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

async function roundTrip(w: VaultTransitKeyWrapper): Promise<void> {
  const v = await w.currentVersion(aSignal());
  const seed = aDataKey();
  expect(await w.unwrap(await w.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
}

/** Calls currentVersion for `ms`, returning how many calls were made and what they rejected with. */
async function hammer(w: VaultTransitKeyWrapper, ms: number): Promise<{ calls: number; errors: unknown[] }> {
  const errors: unknown[] = [];
  let calls = 0;
  for (const until = Date.now() + ms; Date.now() < until; calls++) {
    await w.currentVersion(aSignal()).catch((e: unknown) => errors.push(e));
    await sleep(20);
  }
  return { calls, errors };
}

describe('vault token lifecycle (real server behind a counting proxy)', () => {
  let server: VaultServer;
  let proxy: CountingProxy;
  let approle: Awaited<ReturnType<typeof setUpAppRole>>;

  beforeAll(async () => {
    server = await startDevVault();
    await setUpTransit(server);
    await writePolicy(server, 'kleidi', minimalPolicy());
    await writePolicy(
      server,
      'encrypt-only',
      minimalPolicy()
        .split('\n')
        .filter((l) => !l.includes('decrypt'))
        .join('\n'),
    );
    approle = await setUpAppRole(server, { token_policies: ['kleidi'], token_ttl: '1h' });
    proxy = await startCountingProxy(server.address);
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
  });

  it('static token revoked: a clear unhealthy reason, few requests, recovery when the file is replaced', async () => {
    const tokenFile = await secretFile(server.dir, 'revoked-token', await createToken(server, ['kleidi']));
    const w = await openWrapper({
      address: proxy.address,
      auth: { method: 'token', tokenFile },
      minBackoffMs: 500,
      maxBackoffMs: 4_000,
    });
    await roundTrip(w);
    await server.api('POST', 'auth/token/revoke', { token: await readFile(tokenFile, 'utf8') });
    const before = proxy.seen.length;
    const { calls, errors } = await hammer(w, 1_200);
    expect(errors).toHaveLength(calls);
    expect(errors.every((e) => e instanceof BackendMisconfiguredError)).toBe(true);
    expect((errors[0] as Error).message).toContain(`Vault refused the token from ${tokenFile}`);
    // one transit 403, then one lookup-self per backoff step (0.5 s, 1 s): never one per call
    expect(calls).toBeGreaterThan(20);
    expect(proxy.seen.length - before).toBeLessThanOrEqual(4);
    expect(w.details().lastError).toContain('refused the token');

    await writeFile(tokenFile, await createToken(server, ['kleidi']), { mode: 0o600 });
    await expect
      .poll(
        () =>
          w.currentVersion(aSignal()).then(
            () => true,
            () => false,
          ),
        { timeout: 5_000, interval: 200 },
      )
      .toBe(true);
    await roundTrip(w);
    await w.close();
  });

  it('AppRole token revoked: exactly one new login, no failed call', async () => {
    const roleIdFile = await secretFile(server.dir, 'rid', approle.roleId);
    const secretIdFile = await secretFile(server.dir, 'sid', await approle.newSecretId());
    const w = await openWrapper({
      address: proxy.address,
      auth: { method: 'approle', mount: 'approle', roleIdFile, secretIdFile },
    });
    await roundTrip(w);
    await server.api('PUT', 'sys/leases/revoke-prefix/auth/approle/login');
    const logins = proxy.count('/v1/auth/approle/login');
    await Promise.all(Array.from({ length: 8 }, () => roundTrip(w)));
    expect(proxy.count('/v1/auth/approle/login') - logins).toBe(1);
    expect(w.details().logins).toBe(2);
    await w.close();
  });

  it('403 that survives a fresh login is misconfigured; later calls fail fast without reaching Vault', async () => {
    const limited = await setUpAppRole(
      server,
      { token_policies: ['encrypt-only'], token_ttl: '1h' },
      'approle-limited',
    );
    const roleIdFile = await secretFile(server.dir, 'rid2', limited.roleId);
    const secretIdFile = await secretFile(server.dir, 'sid2', await limited.newSecretId());
    const w = await openWrapper({
      address: proxy.address,
      auth: { method: 'approle', mount: 'approle-limited', roleIdFile, secretIdFile },
      minBackoffMs: 2_000,
    });
    const v = await w.currentVersion(aSignal());
    const wrapped = await w.wrap(aDataKey(), v, aSignal());
    const err = await w.unwrap(wrapped, aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendMisconfiguredError);
    expect((err as Error).message).toMatch(/denied transit\/decrypt\/kleidi after a fresh login/);
    expect(w.details().logins).toBe(2);
    const before = proxy.seen.length;
    for (let i = 0; i < 10; i++)
      await expect(w.unwrap(wrapped, aSignal())).rejects.toBeInstanceOf(BackendMisconfiguredError);
    expect(proxy.seen.length).toBe(before);
    await w.close();
  });

  it('renews at about 2/3 of the TTL without any traffic, and logs in again near the max TTL', async () => {
    const short = await setUpAppRole(
      server,
      { token_policies: ['kleidi'], token_ttl: '3s', token_max_ttl: '6s' },
      'approle-short',
    );
    const roleIdFile = await secretFile(server.dir, 'rid3', short.roleId);
    const secretIdFile = await secretFile(server.dir, 'sid3', await short.newSecretId());
    const w = await openWrapper({
      address: server.address,
      auth: { method: 'approle', mount: 'approle-short', roleIdFile, secretIdFile },
    });
    await roundTrip(w);
    const firstExpiry = Date.parse(w.details().tokenExpiresAt ?? '');
    await sleep(2_600); // renewal due at 2 s
    expect(w.details().renewals).toBeGreaterThanOrEqual(1);
    expect(Date.parse(w.details().tokenExpiresAt ?? '')).toBeGreaterThan(firstExpiry);
    await sleep(4_400); // the max TTL (6 s) forces a new login before the token dies
    expect(w.details().logins).toBeGreaterThanOrEqual(2);
    await roundTrip(w);
    await w.close();
  }, 20_000);
});
