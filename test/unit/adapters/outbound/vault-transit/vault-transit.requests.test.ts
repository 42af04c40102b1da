import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { envelopeHeader } from '#src/domain/model/envelope.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal, recordingLogger } from '../../../../support/builders.js';
import { startFakeVault, vaultBodies, type FakeRequest, type FakeVault } from '../../../../support/fake-vault.js';
import { secretFile } from '../../../../support/vault-server.fixture.js';
import { openWrapper } from '../../../../support/vault-transit.harness.js';

let dir: string;
let fake: FakeVault | undefined;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kleidi-fake-vault-'));
});
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** A fake Vault that accepts any login and serves key "kleidi" on mount `mount`. */
async function permissive(mount = 'transit'): Promise<FakeVault> {
  fake = await startFakeVault((req: FakeRequest) => {
    if (req.path.endsWith('/login')) return { status: 200, body: vaultBodies.login('s.issued') };
    if (req.path === 'auth/token/lookup-self') return { status: 200, body: vaultBodies.lookupSelf() };
    if (req.path === `${mount}/keys/kleidi`) return { status: 200, body: vaultBodies.key() };
    if (req.path === `${mount}/encrypt/kleidi`) return { status: 200, body: vaultBodies.encrypt(1) };
    return { status: 404, body: vaultBodies.errors('no handler') };
  });
  return fake;
}

describe('what kleidi sends to Vault', () => {
  it('namespace header on every request (login included); token only after login; namespace in key_id', async () => {
    const f = await permissive();
    const secretIdFile = await secretFile(dir, 'sid', 'secret-id-value');
    const roleIdFile = await secretFile(dir, 'rid', 'role-id-value', 0o644);
    const w = await openWrapper({
      address: f.address,
      namespace: 'team-a/kms',
      auth: { method: 'approle', mount: 'approle', roleIdFile, secretIdFile },
    });
    const v = await w.currentVersion(aSignal());
    expect(v.keyId).toMatch(/^vault:team-a\/kms\/transit:kleidi:v1:1700000000$/);
    await w.wrap(aDataKey(), v, aSignal());
    expect(f.requests.map((r) => r.headers['x-vault-namespace'])).toEqual(['team-a/kms', 'team-a/kms', 'team-a/kms']);
    const [login, read, encrypt] = f.requests;
    expect(login?.path).toBe('auth/approle/login');
    expect(login?.body).toEqual({ role_id: 'role-id-value', secret_id: 'secret-id-value' });
    expect(login?.headers['x-vault-token']).toBeUndefined();
    expect(read?.headers['x-vault-token']).toBe('s.issued');
    expect(encrypt?.headers['x-vault-token']).toBe('s.issued');
    expect(encrypt?.headers.connection).toBe('keep-alive');
    await w.close();
  });

  it('binds the envelope header as transit associated_data for AEAD keys', async () => {
    const f = await permissive();
    const w = await openWrapper({ address: f.address, auth: { method: 'token', token: 's.env' } });
    const v = await w.currentVersion(aSignal());
    await w.wrap(aDataKey(), v, aSignal());
    const body = f.requests.find((r) => r.path === 'transit/encrypt/kleidi')?.body;
    expect(body?.associated_data).toBe(Buffer.from(envelopeHeader(v.keyId, 'opaque')).toString('base64'));
    expect(body?.key_version).toBe(1);
    await w.close();
  });

  it('Kubernetes login goes to the configured mount explicitly (node-vault#300 posts to auth//login)', async () => {
    const f = await permissive();
    const jwtFile = await secretFile(dir, 'jwt', 'header.claims.sig', 0o644);
    const w = await openWrapper({
      address: f.address,
      auth: { method: 'kubernetes', mount: 'kubernetes', role: 'kleidi', jwtFile },
    });
    await w.currentVersion(aSignal());
    expect(f.requests[0]).toMatchObject({
      path: 'auth/kubernetes/login',
      body: { role: 'kleidi', jwt: 'header.claims.sig' },
    });
    await w.close();
  });

  it('ignores VAULT_TOKEN and VAULT_NAMESPACE from the environment', async () => {
    const f = await permissive();
    process.env.VAULT_TOKEN = 's.from-env';
    process.env.VAULT_NAMESPACE = 'env-ns';
    try {
      const secretIdFile = await secretFile(dir, 'sid2', 'secret');
      const roleIdFile = await secretFile(dir, 'rid2', 'role');
      const w = await openWrapper({
        address: f.address,
        auth: { method: 'approle', mount: 'approle', roleIdFile, secretIdFile },
      });
      await w.currentVersion(aSignal());
      expect(f.requests[0]?.headers['x-vault-token']).toBeUndefined();
      expect(f.requests.every((r) => r.headers['x-vault-namespace'] === undefined)).toBe(true);
      await w.close();
    } finally {
      delete process.env.VAULT_TOKEN;
      delete process.env.VAULT_NAMESPACE;
    }
  });

  // One policy for every secret file: Vault credential files used to be refused only when world-readable.
  it.each([0o604, 0o640])(
    'refuses a secret_id file of mode %o at startup, and never logs credentials',
    async (mode) => {
      const lines = recordingLogger();
      const secretIdFile = await secretFile(dir, `open-sid-${mode}`, 'very-secret-id', mode);
      const roleIdFile = await secretFile(dir, 'rid3', 'role');
      const err = await openWrapper(
        { address: 'http://127.0.0.1:1', auth: { method: 'approle', mount: 'approle', roleIdFile, secretIdFile } },
        lines,
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendMisconfiguredError);
      expect((err as Error).message).toContain(
        `has mode 0${mode.toString(8)}; it must not be accessible by group or others (run: chmod 600 ${secretIdFile})`,
      );
      expect((err as Error).message).not.toContain('very-secret-id');
    },
  );

  it('errors carry neither the token nor the seed anywhere in their cause chain', async () => {
    fake = await startFakeVault((req) => {
      if (req.path === 'auth/token/lookup-self') return { status: 200, body: vaultBodies.lookupSelf() };
      if (req.path === 'transit/keys/kleidi') return { status: 200, body: vaultBodies.key() };
      return 'hang';
    });
    const w = await openWrapper({
      address: fake.address,
      auth: { method: 'token', token: 's.very-secret-token' },
      callBudgetMs: 300,
      attemptTimeoutMs: 100,
    });
    const seed = aDataKey();
    const err = await w.wrap(seed, await w.currentVersion(aSignal()), aSignal()).catch((e: unknown) => e);
    const dump = inspect(err, { depth: 20, showHidden: true });
    expect(dump).toContain('ECONNABORTED');
    expect(dump).not.toContain('s.very-secret-token');
    expect(dump).not.toContain(Buffer.from(seed).toString('base64'));
    await w.close();
  });

  it('logs a login without the token, secret_id or role_id', async () => {
    const f = await permissive();
    const lines = recordingLogger();
    const secretIdFile = await secretFile(dir, 'sid4', 'very-secret-id');
    const roleIdFile = await secretFile(dir, 'rid4', 'role-id-value');
    const w = await openWrapper(
      { address: f.address, auth: { method: 'approle', mount: 'approle', roleIdFile, secretIdFile } },
      lines,
    );
    await w.currentVersion(aSignal());
    const logged = JSON.stringify(lines.lines);
    expect(logged).toContain('logged in to Vault');
    for (const secret of ['s.issued', 'very-secret-id', 'role-id-value']) expect(logged).not.toContain(secret);
    await w.close();
  });
});
