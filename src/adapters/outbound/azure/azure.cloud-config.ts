import { AzureAuthorityHosts } from '@azure/identity';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { readSecretFile } from '../shared/secret-file.js';
import type { AzureIdentity } from './azure.credentials.js';

/** The clouds kleidi knows, by the names azure.json and Azure/kubernetes-kms use. */
export type AzureCloudName = 'AzurePublicCloud' | 'AzureChinaCloud' | 'AzureUSGovernmentCloud';

/**
 * Entra ID authority hosts (@azure/identity AzureAuthorityHosts) and Key Vault / Managed HSM DNS
 * suffixes of each cloud
 * (https://learn.microsoft.com/en-us/azure/key-vault/general/about-keys-secrets-certificates#dns-suffixes-for-object-identifiers).
 */
export const CLOUDS: Record<AzureCloudName, { authorityHost: string; vaultSuffix: string; hsmSuffix: string }> = {
  AzurePublicCloud: {
    authorityHost: AzureAuthorityHosts.AzurePublicCloud,
    vaultSuffix: 'vault.azure.net',
    hsmSuffix: 'managedhsm.azure.net',
  },
  AzureChinaCloud: {
    authorityHost: AzureAuthorityHosts.AzureChina,
    vaultSuffix: 'vault.azure.cn',
    hsmSuffix: 'managedhsm.azure.cn',
  },
  AzureUSGovernmentCloud: {
    authorityHost: AzureAuthorityHosts.AzureGovernment,
    vaultSuffix: 'vault.usgovcloudapi.net',
    hsmSuffix: 'managedhsm.usgovcloudapi.net',
  },
};

/** The identity and cloud an azure.json cloud-config file describes. */
export interface CloudConfigIdentity {
  readonly identity: AzureIdentity;
  readonly cloud?: AzureCloudName;
}

/**
 * Reads the cloud-config file AKS and self-managed clusters put on control-plane nodes
 * (/etc/kubernetes/azure.json; fields of sigs.k8s.io/cloud-provider-azure's AzureAuthConfig, the
 * file Azure/kubernetes-kms reads): a managed identity (useManagedIdentityExtension, with
 * userAssignedIdentityID) or a service principal (aadClientId with aadClientSecret, or
 * aadClientCertPath holding a PEM). It holds a secret, so it is read as one.
 */
export async function readCloudConfig(file: string): Promise<CloudConfigIdentity> {
  const text = (
    await readSecretFile(file, { what: 'azure.json cloud-config file', followLinks: true, maxBytes: 65536 })
  ).text;
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new BackendMisconfiguredError(`${file} is not JSON`);
  }
  const str = (k: string) => (typeof c[k] === 'string' && c[k] !== '' ? (c[k] as string) : undefined);
  const cloudName = str('cloud');
  const cloud = cloudName && cloudName.toLowerCase() in LOWER ? LOWER[cloudName.toLowerCase()] : undefined;
  if (cloudName && !cloud) throw new BackendMisconfiguredError(`${file}: cloud ${cloudName} is not one kleidi knows`);
  const withCloud = (identity: AzureIdentity): CloudConfigIdentity => ({ identity, ...(cloud ? { cloud } : {}) });
  if (c.useManagedIdentityExtension === true) {
    const clientId = str('userAssignedIdentityID');
    return withCloud({ kind: 'managed-identity', ...(clientId ? { clientId } : {}) });
  }
  const tenantId = str('tenantId');
  const clientId = str('aadClientId');
  if (!tenantId || !clientId) {
    throw new BackendMisconfiguredError(`${file}: needs useManagedIdentityExtension, or tenantId and aadClientId`);
  }
  const secret = str('aadClientSecret');
  if (secret) return withCloud({ kind: 'client-secret-value', tenantId, clientId, secret });
  const certificateFile = str('aadClientCertPath');
  if (certificateFile) {
    if (str('aadClientCertPassword')) {
      throw new BackendMisconfiguredError(
        `${file}: password-protected certificates are not supported; give a PEM without a password`,
      );
    }
    return withCloud({ kind: 'client-certificate', tenantId, clientId, certificateFile });
  }
  throw new BackendMisconfiguredError(
    `${file}: the service principal has neither aadClientSecret nor aadClientCertPath`,
  );
}

const LOWER: Record<string, AzureCloudName> = {
  azurepubliccloud: 'AzurePublicCloud',
  azurechinacloud: 'AzureChinaCloud',
  azureusgovernmentcloud: 'AzureUSGovernmentCloud',
};
