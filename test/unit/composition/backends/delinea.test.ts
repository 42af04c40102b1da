import { describe, expect, it } from 'vitest';
import { DelineaConfigSchema, delineaBackend, delineaSettings } from '#src/composition/backends/delinea.js';
import { backendByName } from '#src/composition/backends/index.js';
import { envToRaw } from '#src/composition/config/load.js';

describe('delinea backend config', () => {
  it('takes every setting from its KLEIDI_DELINEA_* twin and maps it to the adapter settings', () => {
    const raw = envToRaw({
      KLEIDI_DELINEA_MODE: 'kek-source',
      KLEIDI_DELINEA_URL: 'https://pam.example/SecretServer',
      KLEIDI_DELINEA_CA_FILE: '/etc/kleidi/delinea-ca.pem',
      KLEIDI_DELINEA_GRANT: 'client_credentials',
      KLEIDI_DELINEA_USERNAME: 'kleidi-app',
      KLEIDI_DELINEA_CREDENTIAL_FILE: '/etc/kleidi/delinea-secret',
      KLEIDI_DELINEA_TOKEN_PATH: '/identity/api/oauth2/token/xpmplatform',
      KLEIDI_DELINEA_SECRET_ID: '42',
      KLEIDI_DELINEA_FIELD: 'kek-ring',
      KLEIDI_DELINEA_CALL_TIMEOUT_MS: '2000',
      KLEIDI_DELINEA_ATTEMPT_TIMEOUT_MS: '2500',
      KLEIDI_DELINEA_MAX_ATTEMPTS: '4',
    });
    expect(delineaSettings(DelineaConfigSchema.parse(raw.delinea))).toEqual({
      mode: 'kek-source',
      url: 'https://pam.example/SecretServer',
      caFile: '/etc/kleidi/delinea-ca.pem',
      auth: {
        grant: 'client_credentials',
        username: 'kleidi-app',
        credentialFile: '/etc/kleidi/delinea-secret',
        tokenPath: '/identity/api/oauth2/token/xpmplatform',
      },
      secretId: 42,
      field: 'kek-ring',
      // An attempt never outlasts the call budget.
      calls: { callBudgetMs: 2_000, attemptTimeoutMs: 2_000, maxAttempts: 4 },
    });
    expect(backendByName('delinea')).toBe(delineaBackend);
  });

  it('defaults to kek-source with the password grant, the notes field and a budget below 3 s', () => {
    const c = DelineaConfigSchema.parse({
      url: 'https://pam.example',
      username: 'u',
      credentialFile: '/f',
      secretId: 7,
    });
    expect(c).toMatchObject({ mode: 'kek-source', grant: 'password', field: 'notes', tokenPath: '/oauth2/token' });
    expect(c.callTimeoutMs).toBeLessThan(3_000);
  });

  it('maps remote mode to a DSV key path with the client_credentials grant, and refuses it without them', () => {
    const base = {
      mode: 'remote',
      url: 'https://tenant.secretsvaultcloud.com',
      grant: 'client_credentials',
      username: 'client-id',
      credentialFile: '/f',
      keyPath: 'kleidi/cluster-a',
    };
    expect(delineaSettings(DelineaConfigSchema.parse(base))).toMatchObject({
      mode: 'remote',
      keyPath: 'kleidi/cluster-a',
      auth: { grant: 'client_credentials', username: 'client-id' },
    });
    expect(DelineaConfigSchema.safeParse({ ...base, keyPath: undefined }).success).toBe(false);
    expect(DelineaConfigSchema.safeParse({ ...base, grant: 'password' }).success).toBe(false);
    expect(DelineaConfigSchema.safeParse({ ...base, keyPath: 'a:b' }).success).toBe(false);
  });

  it('refuses kek-source without a secret id, an http URL, a password setting and a field slug with ":"', () => {
    const base = { url: 'https://pam.example', username: 'u', credentialFile: '/f', secretId: 1 };
    expect(DelineaConfigSchema.safeParse({ ...base, secretId: undefined }).success).toBe(false);
    expect(DelineaConfigSchema.safeParse({ ...base, url: 'http://pam.example' }).success).toBe(false);
    expect(DelineaConfigSchema.safeParse({ ...base, password: 'x' }).success).toBe(false);
    expect(DelineaConfigSchema.safeParse({ ...base, field: 'a:b' }).success).toBe(false);
  });
});
