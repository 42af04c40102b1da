import { describe, expect, it } from 'vitest';
import { VAULT_TOKEN_ENV, VaultConfigSchema, vaultBackend, vaultSettings } from '#src/composition/backends/vault.js';
import { describeObject } from '../../../../tools/describe-schema.js';

const address = 'https://vault.example:8200';

describe('vault backend config', () => {
  it('defaults: transit mount, key "kleidi", token auth, the SA token path, a budget below 3 s', () => {
    const c = VaultConfigSchema.parse({ address, tokenFile: '/etc/kleidi/vault-token' });
    expect(c).toMatchObject({
      mount: 'transit',
      key: 'kleidi',
      authMethod: 'token',
      jwtFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
      callTimeoutMs: 2_500,
      attemptTimeoutMs: 1_000,
      maxAttempts: 3,
    });
    expect(vaultBackend).toMatchObject({ name: 'vault', section: 'vault', secretEnv: [VAULT_TOKEN_ENV] });
  });

  it('has the fields behind the documented env names (docs/backends/vault.md), and no token field', () => {
    const fields = Object.keys(VaultConfigSchema.shape);
    for (const f of [
      'address',
      'tokenFile',
      'mount',
      'key',
      'namespace',
      'roleIdFile',
      'secretIdFile',
      'role',
      'jwtFile',
      'authMount',
    ])
      expect(fields).toContain(f);
    expect(fields).not.toContain('token'); // SECURITY: only a file or KLEIDI_VAULT_TOKEN
  });

  it('documents every setting and rejects unknown ones', () => {
    for (const doc of describeObject(VaultConfigSchema.shape)) expect(doc.description, doc.key).not.toBe('');
    expect(VaultConfigSchema.safeParse({ address, tokenfile: '/x' }).success).toBe(false);
  });

  it('requires what each auth method needs', () => {
    expect(VaultConfigSchema.safeParse({ address, authMethod: 'approle', roleIdFile: '/r' }).success).toBe(false);
    expect(VaultConfigSchema.safeParse({ address, authMethod: 'kubernetes' }).success).toBe(false);
    expect(VaultConfigSchema.safeParse({ address, authMethod: 'kubernetes', role: 'kleidi' }).success).toBe(true);
    expect(VaultConfigSchema.safeParse({ address, authMethod: 'cert', clientCertFile: '/c' }).success).toBe(false);
    expect(
      VaultConfigSchema.safeParse({ address, authMethod: 'cert', clientCertFile: '/c', clientKeyFile: '/k' }).success,
    ).toBe(true);
    expect(VaultConfigSchema.safeParse({ address: 'http://127.0.0.1:8200', caFile: '/ca' }).success).toBe(false);
    expect(VaultConfigSchema.safeParse({ address: 'ftp://vault' }).success).toBe(false);
    expect(VaultConfigSchema.safeParse({ address, mount: 'a:b' }).success).toBe(false);
  });

  it('coerces numbers from env strings and maps to adapter settings', () => {
    const c = VaultConfigSchema.parse({
      address,
      authMethod: 'approle',
      roleIdFile: '/r',
      secretIdFile: '/s',
      callTimeoutMs: '2000',
      attemptTimeoutMs: '5000',
    });
    const s = vaultSettings(c, {});
    expect(s.auth).toEqual({ method: 'approle', mount: 'approle', roleIdFile: '/r', secretIdFile: '/s' });
    expect(s.client).toMatchObject({ callBudgetMs: 2_000, attemptTimeoutMs: 2_000 });
  });

  it('takes the token from KLEIDI_VAULT_TOKEN only when no tokenFile is set', () => {
    const env = { [VAULT_TOKEN_ENV]: 's.env' };
    expect(vaultSettings(VaultConfigSchema.parse({ address }), env).auth).toEqual({ method: 'token', token: 's.env' });
    expect(vaultSettings(VaultConfigSchema.parse({ address, tokenFile: '/t' }), env).auth).toEqual({
      method: 'token',
      tokenFile: '/t',
    });
  });
});
