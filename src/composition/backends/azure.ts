import { z } from 'zod';
import type { AzureKeyVaultSettings } from '../../adapters/outbound/azure/azure.open.js';
import { BackendMisconfiguredError } from '../../domain/model/errors.js';
import { flag } from '../config/duration.js';
import { type BackendContext, defineBackend } from './backend.js';

const ms = () => z.coerce.number().int().positive();
const CLOUD_NAMES = ['AzurePublicCloud', 'AzureChinaCloud', 'AzureUSGovernmentCloud'] as const;
const CREDENTIALS = [
  'auto',
  'workload-identity',
  'managed-identity',
  'client-secret',
  'client-certificate',
  'azure-json',
] as const;

/**
 * The `azure` config section (Azure Key Vault or Managed HSM). Field names give the env names
 * through the loader: vaultUrl ↔ KLEIDI_AZURE_VAULT_URL, keyName ↔ KLEIDI_AZURE_KEY_NAME, …
 * Secrets are never settings, only the files holding them (docs/backends/azure.md).
 */
export const AzureConfigSchema = z
  .strictObject({
    vaultUrl: z
      .url({ protocol: /^https$/ })
      .optional()
      .meta({ description: 'The vault or Managed HSM URL, e.g. https://my-vault.vault.azure.net (or set vaultName).' }),
    vaultName: z
      .string()
      .regex(/^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/, 'must be a Key Vault or Managed HSM name (3-24 characters)')
      .optional()
      .meta({
        description: "The vault's name; its URL is completed with the cloud's Key Vault (or Managed HSM) suffix.",
      }),
    managedHsm: flag
      .default(false)
      .meta({ description: 'vaultName names a Managed HSM (<name>.managedhsm.azure.net).' }),
    keyName: z
      .string()
      .regex(/^[0-9A-Za-z-]{1,127}$/, 'must be a Key Vault key name: letters, digits, dashes')
      .default('kleidi')
      .meta({ description: 'The key; kleidi uses its newest version and follows new versions (rotation).' }),
    keyType: z.enum(['RSA', 'RSA-HSM', 'oct-HSM']).default('RSA-HSM').meta({
      description:
        'Type of the key `kleidi init` creates: RSA or RSA-HSM (wrapped with RSA-OAEP-256), or oct-HSM in a Managed HSM (A256KW).',
    }),
    keySize: z.coerce
      .number()
      .int()
      .refine((n) => [256, 2048, 3072, 4096].includes(n), 'must be 2048, 3072 or 4096 (RSA) or 256 (oct-HSM)')
      .optional()
      .meta({ description: 'Size in bits of the key `kleidi init` creates; default 3072 for RSA, 256 for oct-HSM.' }),
    cloud: z.enum(CLOUD_NAMES).optional().meta({
      description:
        "The Azure cloud: its Entra ID authority and Key Vault suffix. Default: azure.json's, else AzurePublicCloud.",
    }),
    authorityHost: z
      .url({ protocol: /^https$/ })
      .optional()
      .meta({ description: "Microsoft Entra ID's authority host instead of the cloud's." }),
    credential: z
      .enum(CREDENTIALS)
      .default('auto')
      .meta({
        description:
          'How kleidi authenticates: workload-identity, managed-identity, client-secret, client-certificate, azure-json, or ' +
          'auto (workload identity when AZURE_FEDERATED_TOKEN_FILE is set, else managed identity).',
      }),
    tenantId: z.string().min(1).optional().meta({ description: 'Entra tenant ID; default AZURE_TENANT_ID.' }),
    clientId: z.string().min(1).optional().meta({
      description: "Application (client) ID, or a user-assigned managed identity's; default AZURE_CLIENT_ID.",
    }),
    federatedTokenFile: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Workload identity: the projected token file; default AZURE_FEDERATED_TOKEN_FILE.' }),
    clientSecretFile: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "File holding the service principal's client secret." }),
    clientCertificateFile: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "PEM file with the service principal's certificate and its private key." }),
    azureJsonFile: z
      .string()
      .min(1)
      .default('/etc/kubernetes/azure.json')
      .meta({ description: 'The cloud-config file read when credential is azure-json.' }),
    caFile: z.string().min(1).optional().meta({
      description:
        'PEM CA bundle trusted instead of the system roots for Key Vault and Entra ID (TLS-inspecting proxies, test servers).',
    }),
    disableChallengeResourceVerification: flag.default(false).meta({
      description:
        "Do not check that the vault's authentication challenge names a resource in the vault's domain (the SDK option of that name); only for custom domains and test servers.",
    }),
    callTimeoutMs: ms().max(60_000).default(2_500).meta({
      description:
        "Budget in ms of one Key Vault call, retries included; keep it below the apiserver's 3 s KMS timeout.",
    }),
    attemptTimeoutMs: ms().max(60_000).default(1_000).meta({ description: 'Timeout in ms of one HTTP attempt.' }),
    maxAttempts: z.coerce
      .number()
      .int()
      .min(1)
      .max(10)
      .default(3)
      .meta({ description: 'Attempts per call for throttling, 5xx and connection failures.' }),
  })
  .refine((c) => (c.vaultUrl === undefined) !== (c.vaultName === undefined), {
    message: 'set exactly one of vaultUrl and vaultName',
  });

type AzureConfig = z.output<typeof AzureConfigSchema>;

/** Maps the validated section to the adapter's settings; identity defaults come from the AZURE_* env. */
export function azureSettings(c: AzureConfig, env: BackendContext['env'] = {}): AzureKeyVaultSettings {
  const tenantId = c.tenantId ?? env.AZURE_TENANT_ID;
  const clientId = c.clientId ?? env.AZURE_CLIENT_ID;
  const tokenFile = c.federatedTokenFile ?? env.AZURE_FEDERATED_TOKEN_FILE;
  const kind = c.credential === 'auto' ? (tokenFile ? 'workload-identity' : 'managed-identity') : c.credential;
  const need = (v: string | undefined, what: string) => {
    if (!v) throw new BackendMisconfiguredError(`azure.credential ${kind} needs ${what}`);
    return v;
  };
  const identity: AzureKeyVaultSettings['identity'] =
    kind === 'workload-identity'
      ? {
          kind,
          tenantId: need(tenantId, 'azure.tenantId or AZURE_TENANT_ID'),
          clientId: need(clientId, 'azure.clientId or AZURE_CLIENT_ID'),
          tokenFile: need(tokenFile, 'azure.federatedTokenFile or AZURE_FEDERATED_TOKEN_FILE'),
        }
      : kind === 'managed-identity'
        ? { kind, ...(clientId ? { clientId } : {}) }
        : kind === 'client-secret'
          ? {
              kind,
              tenantId: need(tenantId, 'azure.tenantId'),
              clientId: need(clientId, 'azure.clientId'),
              secretFile: need(c.clientSecretFile, 'azure.clientSecretFile'),
            }
          : kind === 'client-certificate'
            ? {
                kind,
                tenantId: need(tenantId, 'azure.tenantId'),
                clientId: need(clientId, 'azure.clientId'),
                certificateFile: need(c.clientCertificateFile, 'azure.clientCertificateFile'),
              }
            : { kind: 'azure-json', file: c.azureJsonFile };
  const size = c.keySize ?? (c.keyType === 'oct-HSM' ? 256 : 3072);
  return {
    vault: c.vaultUrl ? { url: c.vaultUrl } : { name: c.vaultName ?? '', managedHsm: c.managedHsm },
    keyName: c.keyName,
    newKey: { kty: c.keyType, size },
    identity,
    ...(c.cloud ? { cloud: c.cloud } : {}),
    ...(c.authorityHost ? { authorityHost: c.authorityHost } : {}),
    ...(c.caFile ? { caFile: c.caFile } : {}),
    disableChallengeResourceVerification: c.disableChallengeResourceVerification,
    calls: {
      callBudgetMs: c.callTimeoutMs,
      attemptTimeoutMs: Math.min(c.attemptTimeoutMs, c.callTimeoutMs),
      maxAttempts: c.maxAttempts,
    },
  };
}

/** The Azure Key Vault and Managed HSM backend (`backend: azure`). */
export const azureBackend = defineBackend({
  name: 'azure',
  summary: 'a versioned Azure Key Vault or Managed HSM key',
  section: 'azure',
  schema: AzureConfigSchema,
  adapter: 'azure',
  libraries: ['@azure/identity', '@azure/keyvault-keys'],
  docs: 'docs/backends/azure.md',
  testing: {
    harness: 'test/backends/azure.harness.ts',
    contract: 'test/contract/azure.contract.test.ts',
    campaign: 'test/reliability/37-azure.campaign.ts',
  },
  // The adapter (the Azure SDK) is imported only when this backend is used.
  openWrapper: async (c, ctx) => {
    const { openAzureWrapper } = await import('../../adapters/outbound/azure/azure.open.js');
    return openAzureWrapper(azureSettings(c, ctx.env), { clock: ctx.clock, log: ctx.logger });
  },
  openAdmin: async (c, ctx) => {
    const { openAzureAdmin } = await import('../../adapters/outbound/azure/azure.open.js');
    return openAzureAdmin(azureSettings(c, ctx.env), { clock: ctx.clock, log: ctx.logger });
  },
});
