import { describe, expect, it } from 'vitest';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';
import { AzureConfigSchema, azureBackend, azureSettings } from '#src/composition/backends/azure.js';
import { backendByName } from '#src/composition/backends/index.js';
import { envToRaw } from '#src/composition/config/load.js';

describe('azure backend config', () => {
  it('defaults: key kleidi, RSA-HSM 3072, identity from the environment, a budget below 3 s', () => {
    const c = AzureConfigSchema.parse({ vaultName: 'prod-kv' });
    const s = azureSettings(c, {});
    expect(s).toMatchObject({
      vault: { name: 'prod-kv', managedHsm: false },
      keyName: 'kleidi',
      newKey: { kty: 'RSA-HSM', size: 3072 },
      identity: { kind: 'managed-identity' },
      disableChallengeResourceVerification: false,
      calls: { callBudgetMs: 2_500, attemptTimeoutMs: 1_000, maxAttempts: 3 },
    });
    expect(backendByName('azure')).toBe(azureBackend);
  });

  it('refuses both or neither of vaultUrl and vaultName', () => {
    expect(() => AzureConfigSchema.parse({})).toThrow(/exactly one of vaultUrl and vaultName/);
    expect(() => AzureConfigSchema.parse({ vaultName: 'a-kv', vaultUrl: 'https://a-kv.vault.azure.net' })).toThrow();
    expect(() => AzureConfigSchema.parse({ vaultUrl: 'http://a-kv.vault.azure.net' })).toThrow();
  });

  it('auto: workload identity when the webhook injected AZURE_FEDERATED_TOKEN_FILE', () => {
    const c = AzureConfigSchema.parse({ vaultUrl: 'https://a.vault.azure.net' });
    const s = azureSettings(c, {
      AZURE_TENANT_ID: 'tenant',
      AZURE_CLIENT_ID: 'client',
      AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token',
    });
    expect(s.identity).toEqual({
      kind: 'workload-identity',
      tenantId: 'tenant',
      clientId: 'client',
      tokenFile: '/var/run/secrets/azure/tokens/azure-identity-token',
    });
  });

  it('takes every setting from its KLEIDI_AZURE_* twin', () => {
    const raw = envToRaw({
      KLEIDI_AZURE_VAULT_NAME: 'hsm1',
      KLEIDI_AZURE_MANAGED_HSM: 'true',
      KLEIDI_AZURE_KEY_NAME: 'kek',
      KLEIDI_AZURE_KEY_TYPE: 'oct-HSM',
      KLEIDI_AZURE_CLOUD: 'AzureChinaCloud',
      KLEIDI_AZURE_CREDENTIAL: 'client-certificate',
      KLEIDI_AZURE_TENANT_ID: 't',
      KLEIDI_AZURE_CLIENT_ID: 'c',
      KLEIDI_AZURE_CLIENT_CERTIFICATE_FILE: '/etc/kleidi/sp.pem',
      KLEIDI_AZURE_CALL_TIMEOUT_MS: '2000',
      KLEIDI_AZURE_ATTEMPT_TIMEOUT_MS: '700',
      KLEIDI_AZURE_MAX_ATTEMPTS: '4',
    });
    const s = azureSettings(AzureConfigSchema.parse(raw.azure));
    expect(s).toMatchObject({
      vault: { name: 'hsm1', managedHsm: true },
      keyName: 'kek',
      newKey: { kty: 'oct-HSM', size: 256 },
      cloud: 'AzureChinaCloud',
      identity: { kind: 'client-certificate', tenantId: 't', clientId: 'c', certificateFile: '/etc/kleidi/sp.pem' },
      calls: { callBudgetMs: 2_000, attemptTimeoutMs: 700, maxAttempts: 4 },
    });
  });

  it('names what a credential kind is missing', () => {
    const c = AzureConfigSchema.parse({ vaultName: 'kv1', credential: 'client-secret', tenantId: 't' });
    expect(() => azureSettings(c, {})).toThrow(BackendMisconfiguredError);
    expect(() => azureSettings(c, {})).toThrow(/azure.clientId/);
  });
});
