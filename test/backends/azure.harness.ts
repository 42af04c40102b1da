import { join } from 'node:path';
import { azureTestCa } from '../support/azure-test-ca.js';
import { type AzureStack, startAzureStack } from '../support/azure.harness.js';
import { type BenchComparison, kleidiInit, type StartOptions, type TestServer } from './harness.js';

/** Nothing to install: the fake Key Vault and Entra ID are TypeScript in this repository; openssl makes the test CA. */
export async function prepare(): Promise<void> {
  azureTestCa();
  return Promise.resolve();
}

/**
 * A fresh fake Key Vault and fake Entra ID in this process (HTTPS on loopback with a test CA made
 * now), an application with a client secret in a file, granted Key Vault Crypto Officer, and
 * the first key made by `kleidi init` (RSA 2048, wrapped with RSA-OAEP-256). The real
 * @azure/identity and @azure/keyvault-keys talk to them; the only test-only settings are the CA
 * file, the authority host and the SDK's documented disableChallengeResourceVerification (the
 * vault's host is 127.0.0.1, not a subdomain of vault.azure.net).
 */
export async function start(dir: string, opts: StartOptions = {}): Promise<TestServer> {
  const stack = await startAzureStack();
  const env = kleidiEnv(stack);
  try {
    await kleidiInit('azure', join(dir, 'init-state'), env, opts);
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return { env, version: 'fake Key Vault (api-version 7.4+) + fake Entra ID', stop: () => stack.stop() };
}

/** What points kleidi at a stack (or at a proxy in front of its vault, `vaultUrl`). */
export function kleidiEnv(stack: AzureStack, vaultUrl = stack.vault.url): Record<string, string> {
  return {
    KLEIDI_AZURE_VAULT_URL: vaultUrl,
    KLEIDI_AZURE_KEY_NAME: 'kleidi',
    KLEIDI_AZURE_KEY_TYPE: 'RSA',
    KLEIDI_AZURE_KEY_SIZE: '2048',
    KLEIDI_AZURE_CREDENTIAL: 'client-secret',
    KLEIDI_AZURE_TENANT_ID: stack.entra.tenantId,
    KLEIDI_AZURE_CLIENT_ID: stack.clientId,
    KLEIDI_AZURE_CLIENT_SECRET_FILE: stack.secretFile,
    KLEIDI_AZURE_AUTHORITY_HOST: stack.entra.authorityHost,
    KLEIDI_AZURE_CA_FILE: azureTestCa().caFile,
    KLEIDI_AZURE_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
  };
}

/**
 * The same wrapKey/unwrapKey requests kleidi sends (RSA-OAEP-256 of nonce, header digest and
 * seed), made directly with @azure/keyvault-keys against the same fake vault:
 * kleidi(azure) ÷ this is what kleidi's whole path costs on top of the SDK and the server.
 */
export const bench: BenchComparison = {
  baseline: {
    label: 'raw-azure-sdk',
    raw: 'bench/raw/azure.mjs',
    args: (env) => [
      ...['--vault-url', env.KLEIDI_AZURE_VAULT_URL ?? ''],
      ...['--key', env.KLEIDI_AZURE_KEY_NAME ?? 'kleidi'],
      ...['--authority-host', env.KLEIDI_AZURE_AUTHORITY_HOST ?? ''],
      ...['--tenant-id', env.KLEIDI_AZURE_TENANT_ID ?? ''],
      ...['--client-id', env.KLEIDI_AZURE_CLIENT_ID ?? ''],
      ...['--secret-file', env.KLEIDI_AZURE_CLIENT_SECRET_FILE ?? ''],
      ...['--ca-file', env.KLEIDI_AZURE_CA_FILE ?? ''],
    ],
  },
};
