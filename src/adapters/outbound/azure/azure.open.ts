import type { TokenCredentialOptions } from '@azure/identity';
import { KeyClient, type KeyClientOptions } from '@azure/keyvault-keys';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { readTrustedFile } from '../shared/secret-file.js';
import { type AzureCallSettings, VaultApi } from './azure.client.js';
import { type AzureCloudName, CLOUDS, readCloudConfig } from './azure.cloud-config.js';
import { type AzureIdentity, credentialFor, ObservedCredential } from './azure.credentials.js';
import { AzureKeyAdmin, type NewKeySpec } from './azure.key-admin.js';
import { KEY_NAME, vaultPart } from './azure.key-id.js';
import { AzureKeyWrapper } from './azure.key-wrapper.js';

/** Everything the azure backend needs, already validated and resolved by the composition root. */
export interface AzureKeyVaultSettings {
  /**
   * The vault: its URL (https://<name>.vault.azure.net, https://<name>.managedhsm.azure.net, a
   * sovereign cloud's or a private endpoint's), or its name, completed with the cloud's suffix.
   */
  readonly vault: { readonly url: string } | { readonly name: string; readonly managedHsm: boolean };
  readonly keyName: string;
  /** What `kleidi init` creates. */
  readonly newKey: NewKeySpec;
  readonly identity: AzureIdentity | { readonly kind: 'azure-json'; readonly file: string };
  /** The cloud; unset: azure.json's, else AzurePublicCloud. */
  readonly cloud?: AzureCloudName;
  /** Microsoft Entra ID's host, instead of the cloud's (AzureAuthorityHosts in @azure/identity). */
  readonly authorityHost?: string;
  /** A PEM bundle trusted instead of the system roots (test servers, TLS-inspecting proxies). */
  readonly caFile?: string;
  /**
   * The SDK's documented opt-out of checking that the challenge's resource matches the vault's
   * domain (KeyClientOptions.disableChallengeResourceVerification); for vaults behind custom
   * domains or test servers only.
   */
  readonly disableChallengeResourceVerification: boolean;
  readonly calls: AzureCallSettings;
}

const KNOWN_AUTHORITIES = new Set(Object.values(CLOUDS).map((c) => c.authorityHost.replace(/\/$/, '')));

export interface AzureDeps {
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * Builds the serving KeyWrapper. Refuses to start (BackendMisconfiguredError) on what only an
 * operator can fix: a malformed vault URL or key name, a key that does not exist or cannot wrap,
 * a refused credential or missing role. If Key Vault or Entra ID is merely unreachable it starts
 * anyway; health reports the problem and the refresh retries.
 */
export async function openAzureWrapper(s: AzureKeyVaultSettings, deps: AzureDeps): Promise<AzureKeyWrapper> {
  const stack = await openStack(s, deps);
  const wrapper = new AzureKeyWrapper(stack.api, stack.vault, s.keyName, stack.credential, deps.clock);
  try {
    await wrapper.currentVersion(AbortSignal.timeout(s.calls.callBudgetMs * 2));
  } catch (err) {
    if (err instanceof BackendMisconfiguredError) throw err;
    stack.log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'Key Vault not usable yet; retrying');
  }
  return wrapper;
}

/** Builds the KeyAdmin behind `kleidi init | rotate | keys`. */
export async function openAzureAdmin(s: AzureKeyVaultSettings, deps: AzureDeps): Promise<AzureKeyAdmin> {
  const stack = await openStack(s, deps);
  return new AzureKeyAdmin(stack.api, stack.vault, s.keyName, s.newKey, deps.clock, stack.log);
}

async function openStack(s: AzureKeyVaultSettings, deps: AzureDeps) {
  const fromFile = s.identity.kind === 'azure-json' ? await readCloudConfig(s.identity.file) : undefined;
  const identity = fromFile?.identity ?? (s.identity as AzureIdentity);
  const cloud = CLOUDS[s.cloud ?? fromFile?.cloud ?? 'AzurePublicCloud'];
  const vaultUrl =
    'url' in s.vault
      ? s.vault.url
      : `https://${s.vault.name}.${s.vault.managedHsm ? cloud.hsmSuffix : cloud.vaultSuffix}`;
  let url: URL;
  try {
    url = new URL(vaultUrl);
  } catch {
    throw new BackendMisconfiguredError(`azure.vaultUrl ${JSON.stringify(vaultUrl)} is not a URL`);
  }
  if (url.protocol !== 'https:' || url.pathname !== '/' || url.search || url.username) {
    throw new BackendMisconfiguredError(
      `azure.vaultUrl must be https://<vault host>[:port] with nothing after the host`,
    );
  }
  if (!KEY_NAME.test(s.keyName)) {
    throw new BackendMisconfiguredError(
      `azure.keyName ${JSON.stringify(s.keyName)} is not a key name (1-127 letters, digits, dashes)`,
    );
  }
  const vault = { url: url.origin, part: vaultPart(url) };
  const log = deps.log.child({ vault: vault.url, key: s.keyName });
  const tlsOptions = s.caFile ? { tlsOptions: { ca: await readTrustedFile(s.caFile, 'Azure CA file') } } : {};
  const identityOptions: TokenCredentialOptions = {
    authorityHost: s.authorityHost ?? cloud.authorityHost,
    // Instance discovery asks the public cloud's Entra ID about the authority; an authority host
    // of its own (Azure Stack, a private cloud, a test server) is taken as given
    // (TokenCredentialOptions.disableInstanceDiscovery).
    ...(s.authorityHost && !KNOWN_AUTHORITIES.has(s.authorityHost.replace(/\/$/, ''))
      ? { disableInstanceDiscovery: true }
      : {}),
    // kleidi retries inside the apiserver's deadline; the credential's own retries would not fit it.
    retryOptions: { maxRetries: 0 },
    ...tlsOptions,
  };
  const credential = new ObservedCredential(await credentialFor(identity, identityOptions));
  const clientOptions: KeyClientOptions = {
    retryOptions: { maxRetries: 0 },
    disableChallengeResourceVerification: s.disableChallengeResourceVerification,
    userAgentOptions: { userAgentPrefix: 'kleidi' },
    ...tlsOptions,
  };
  const keys = new KeyClient(vault.url, credential, clientOptions);
  const api = new VaultApi(keys, credential, clientOptions, s.calls, log);
  return { api, vault, credential, log };
}
