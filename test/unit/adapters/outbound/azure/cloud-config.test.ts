import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLOUDS, readCloudConfig } from '#src/adapters/outbound/azure/azure.cloud-config.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';

/** azure.json as AKS-engine, CAPZ and Azure/kubernetes-kms write it (cloud-provider-azure's AzureAuthConfig fields). */
function file(content: unknown): string {
  const f = join(mkdtempSync(join(tmpdir(), 'kleidi-azure-json-')), 'azure.json');
  writeFileSync(f, JSON.stringify(content), { mode: 0o600 });
  return f;
}

describe('azure.json', () => {
  it('a user-assigned managed identity, in Azure China', async () => {
    const c = await readCloudConfig(
      file({
        cloud: 'AzureChinaCloud',
        tenantId: 't',
        useManagedIdentityExtension: true,
        userAssignedIdentityID: 'mi',
      }),
    );
    expect(c).toEqual({ identity: { kind: 'managed-identity', clientId: 'mi' }, cloud: 'AzureChinaCloud' });
    expect(CLOUDS.AzureChinaCloud).toMatchObject({ vaultSuffix: 'vault.azure.cn', hsmSuffix: 'managedhsm.azure.cn' });
  });

  it('a service principal with a certificate path; cloud names in any case', async () => {
    const c = await readCloudConfig(
      file({
        cloud: 'azureusgovernmentcloud',
        tenantId: 't',
        aadClientId: 'c',
        aadClientCertPath: '/etc/kubernetes/sp.pem',
      }),
    );
    expect(c).toEqual({
      identity: { kind: 'client-certificate', tenantId: 't', clientId: 'c', certificateFile: '/etc/kubernetes/sp.pem' },
      cloud: 'AzureUSGovernmentCloud',
    });
  });

  it('refuses what it cannot use, naming the field', async () => {
    await expect(readCloudConfig(file({ tenantId: 't' }))).rejects.toThrow(
      /useManagedIdentityExtension, or tenantId and aadClientId/,
    );
    await expect(
      readCloudConfig(
        file({ tenantId: 't', aadClientId: 'c', aadClientCertPath: '/x.pfx', aadClientCertPassword: 'p' }),
      ),
    ).rejects.toThrow(/password-protected/);
    await expect(
      readCloudConfig(file({ cloud: 'AzureGermanCloud', useManagedIdentityExtension: true })),
    ).rejects.toBeInstanceOf(BackendMisconfiguredError);
  });
});
