import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AzureKeyVaultSettings } from '#src/adapters/outbound/azure/azure.open.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';
import { clientCertificatePem } from '../../support/azure-test-ca.js';
import { type AzureStack, openWrapper, openAdmin, startAzureStack } from '../../support/azure.harness.js';
import { aDataKey, aSignal } from '../../support/builders.js';

/** Each way kleidi authenticates, through the real @azure/identity against the fake Entra ID. */
describe('azure backend: identities', () => {
  let stack: AzureStack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  async function roundTrip(s: AzureStack, identity: AzureKeyVaultSettings['identity'], clientId: string) {
    s.vault.grant(clientId, 'crypto-user');
    const wrapper = await openWrapper(s, { identity });
    const seed = aDataKey();
    const v = await wrapper.currentVersion(aSignal());
    expect(await wrapper.unwrap(await wrapper.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
    expect(s.entra.issued.get(clientId)).toBeGreaterThanOrEqual(1);
  }

  it('workload identity: the federated token file is the client assertion', async () => {
    stack = await startAzureStack();
    await (await openAdmin(stack)).init(aSignal());
    const token = `eyJhbGciOiJSUzI1NiJ9.projected-sa-token.${Date.now()}`;
    const tokenFile = join(stack.dir, 'azure-identity-token');
    writeFileSync(tokenFile, token);
    stack.entra.register('wi-app', { kind: 'federated', token });
    await roundTrip(
      stack,
      { kind: 'workload-identity', tenantId: stack.entra.tenantId, clientId: 'wi-app', tokenFile },
      'wi-app',
    );
  });

  it('service principal with a certificate from a PEM file', async () => {
    stack = await startAzureStack();
    await (await openAdmin(stack)).init(aSignal());
    const { file, certPem } = clientCertificatePem(stack.dir);
    stack.entra.register('cert-app', { kind: 'certificate', certPem });
    await roundTrip(
      stack,
      { kind: 'client-certificate', tenantId: stack.entra.tenantId, clientId: 'cert-app', certificateFile: file },
      'cert-app',
    );
  });

  it('managed identity through IMDS (user-assigned, by client ID)', async () => {
    stack = await startAzureStack();
    await (await openAdmin(stack)).init(aSignal());
    const imds = await stack.entra.startImds(['mi-client']);
    // MSAL's documented override of the IMDS address (ManagedIdentityEnvironmentVariableNames).
    process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = imds;
    try {
      await roundTrip(stack, { kind: 'managed-identity', clientId: 'mi-client' }, 'mi-client');
      expect(stack.entra.requests.filter((r) => r.startsWith('IMDS'))).toContain(
        'IMDS GET /metadata/identity/oauth2/token/',
      );
    } finally {
      delete process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
    }
  });

  it('azure.json with a service principal secret', async () => {
    stack = await startAzureStack();
    await (await openAdmin(stack)).init(aSignal());
    stack.entra.register('json-app', { kind: 'secret', secret: 'json-secret' });
    const file = join(stack.dir, 'azure.json');
    writeFileSync(
      file,
      JSON.stringify({
        cloud: 'AzurePublicCloud',
        tenantId: stack.entra.tenantId,
        aadClientId: 'json-app',
        aadClientSecret: 'json-secret',
      }),
      { mode: 0o600 },
    );
    await roundTrip(stack, { kind: 'azure-json', file }, 'json-app');
  });

  it('short-lived tokens are renewed before they expire, with no failed call', async () => {
    stack = await startAzureStack();
    await (await openAdmin(stack)).init(aSignal());
    // Tokens valid for 3 s: every one is inside the SDK's refresh window from the start, so it
    // renews in the background while requests keep using the valid one.
    stack.entra.tokenLifetimeSeconds = 3;
    const wrapper = await openWrapper(stack);
    const v = await wrapper.currentVersion(aSignal());
    const before = stack.entra.issued.get(stack.clientId) ?? 0;
    const until = Date.now() + 7_000;
    let calls = 0;
    while (Date.now() < until) {
      const seed = aDataKey();
      expect(await wrapper.unwrap(await wrapper.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
      calls++;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(calls).toBeGreaterThan(20);
    expect((stack.entra.issued.get(stack.clientId) ?? 0) - before).toBeGreaterThanOrEqual(2);
    expect(
      stack.vault.requests.filter((r) => r.status === 401 && r.path.includes('wrapkey')).length,
    ).toBeLessThanOrEqual(1);
  });

  it('a wrong client secret is refused at startup with an actionable reason', async () => {
    stack = await startAzureStack();
    await (await openAdmin(stack)).init(aSignal());
    const secretFile = join(stack.dir, 'wrong-secret');
    writeFileSync(secretFile, 'not-the-secret', { mode: 0o600 });
    const err = await openWrapper(stack, {
      identity: { kind: 'client-secret', tenantId: stack.entra.tenantId, clientId: stack.clientId, secretFile },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendMisconfiguredError);
    expect(String(err)).toMatch(/Entra ID refused kleidi's credential \(invalid_client/);
    expect(String(err)).not.toContain('not-the-secret');
  });
});
