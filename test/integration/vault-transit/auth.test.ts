import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VaultTransitKeyWrapper } from '#src/adapters/outbound/vault-transit/vault-transit.key-wrapper.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import {
  clientCertificate,
  createToken,
  minimalPolicy,
  serviceAccountJwt,
  setUpAppRole,
  startTokenReviewer,
  writePolicy,
  type TokenReviewer,
} from '../../support/vault-auth.fixture.js';
import {
  DEV_TLS_NAME,
  secretFile,
  setUpTransit,
  startDevVault,
  type VaultServer,
} from '../../support/vault-server.fixture.js';
import { openWrapper, type TestSettings } from '../../support/vault-transit.harness.js';

/** Every auth method, each limited to the documented minimum transit policy. */
async function roundTrip(w: VaultTransitKeyWrapper): Promise<void> {
  const v = await w.currentVersion(aSignal());
  const seed = aDataKey();
  expect(await w.unwrap(await w.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
}

describe('vault auth methods (plain HTTP server)', () => {
  let server: VaultServer;
  let reviewer: TokenReviewer;

  beforeAll(async () => {
    server = await startDevVault();
    await setUpTransit(server);
    await writePolicy(server, 'kleidi', minimalPolicy());
    reviewer = await startTokenReviewer();
  });
  afterAll(async () => {
    await reviewer?.close();
    await server?.stop();
  });

  it('token from a file, with only the minimum policy', async () => {
    const tokenFile = await secretFile(server.dir, 'policy-token', await createToken(server, ['kleidi']));
    const w = await openWrapper({ address: server.address, auth: { method: 'token', tokenFile } });
    await roundTrip(w);
    expect(w.details()).toMatchObject({ method: 'token', logins: 1, renewable: true });
    expect(Date.parse(w.details().tokenExpiresAt ?? '')).toBeGreaterThan(Date.now());
    await w.close();
  });

  it('token from the environment (no file)', async () => {
    const token = await createToken(server, ['kleidi']);
    const w = await openWrapper({ address: server.address, auth: { method: 'token', token } });
    await roundTrip(w);
    await w.close();
  });

  it.each([0o644, 0o640])(
    'refuses a token file of mode %o (group or others may read it), naming the fix',
    async (mode) => {
      const tokenFile = await secretFile(server.dir, `open-token-${mode}`, 'root', mode);
      const err = await openWrapper({ address: server.address, auth: { method: 'token', tokenFile } }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BackendMisconfiguredError);
      expect((err as Error).message).toContain(`chmod 600 ${tokenFile}`);
      expect((err as Error).message).not.toContain('root');
    },
  );

  it('AppRole, re-reading the secret_id file at every login', async () => {
    const { roleId, newSecretId } = await setUpAppRole(server, { token_policies: ['kleidi'], token_ttl: '1h' });
    const roleIdFile = await secretFile(server.dir, 'role-id', roleId);
    const secretIdFile = await secretFile(server.dir, 'secret-id', await newSecretId());
    const w = await openWrapper({
      address: server.address,
      auth: { method: 'approle', mount: 'approle', roleIdFile, secretIdFile },
    });
    await roundTrip(w);
    // The operator rotates the secret_id and revokes the old one's tokens: the next login uses the new file.
    await writeFile(secretIdFile, await newSecretId(), { mode: 0o600 });
    await server.api('PUT', 'sys/leases/revoke-prefix/auth/approle/login');
    await roundTrip(w);
    expect(w.details()).toMatchObject({ method: 'approle', logins: 2 });
    await w.close();
  });

  it('Kubernetes auth on a custom mount, with a TokenReview endpoint served by the test', async () => {
    await server.api('POST', 'sys/auth/k8s-custom', { type: 'kubernetes' });
    await server.api('POST', 'auth/k8s-custom/config', { kubernetes_host: reviewer.url, disable_local_ca_jwt: true });
    await server.api('POST', 'auth/k8s-custom/role/kleidi', {
      bound_service_account_names: ['kleidi'],
      bound_service_account_namespaces: ['kube-system'],
      token_policies: ['kleidi'],
      token_ttl: '1h',
    });
    const { jwt, uid } = serviceAccountJwt('kube-system', 'kleidi');
    reviewer.valid.set(jwt, { namespace: 'kube-system', name: 'kleidi', uid });
    const jwtFile = await secretFile(server.dir, 'sa-token', jwt, 0o644); // kubelet mounts these 0644
    const w = await openWrapper({
      address: server.address,
      auth: { method: 'kubernetes', mount: 'k8s-custom', role: 'kleidi', jwtFile },
    });
    await roundTrip(w);
    expect(reviewer.reviews).toEqual(['/apis/authentication.k8s.io/v1/tokenreviews']);
    await w.close();
  });

  it('Kubernetes auth with a service account the role does not bind: misconfigured, not retried', async () => {
    const { jwt, uid } = serviceAccountJwt('default', 'intruder');
    reviewer.valid.set(jwt, { namespace: 'default', name: 'intruder', uid });
    const jwtFile = await secretFile(server.dir, 'bad-sa-token', jwt, 0o644);
    const w = await openWrapper({
      address: server.address,
      auth: { method: 'kubernetes', mount: 'k8s-custom', role: 'kleidi', jwtFile },
    });
    const err = await w.currentVersion(aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendMisconfiguredError);
    expect((err as Error).message).toMatch(/Kubernetes login refused by Vault \(403/);
    await w.close();
  });
});

describe('vault over TLS: CA file, server name, TLS certificate auth', () => {
  let server: VaultServer;
  let base: TestSettings;

  beforeAll(async () => {
    server = await startDevVault({ tls: true });
    await setUpTransit(server);
    await writePolicy(server, 'kleidi', minimalPolicy());
    base = {
      address: server.address,
      auth: { method: 'token', tokenFile: await secretFile(server.dir, 'token', 'root') },
    };
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('verifies Vault against caFile, and against tlsServerName when set', async () => {
    const caFile = server.tls?.caFile ?? '';
    const w = await openWrapper({ ...base, tls: { caFile, serverName: DEV_TLS_NAME } });
    await roundTrip(w);
    await w.close();
  });

  it('a certificate that is not trusted or names another host is a misconfiguration, not an outage', async () => {
    const untrusted = await openWrapper(base);
    await expect(untrusted.currentVersion(aSignal())).rejects.toThrow(/TLS certificate is not trusted .*caFile/);
    await untrusted.close();
    const wrongName = await openWrapper({
      ...base,
      tls: { caFile: server.tls?.caFile ?? '', serverName: 'other.example' },
    });
    await expect(wrongName.currentVersion(aSignal())).rejects.toBeInstanceOf(BackendMisconfiguredError);
    await wrongName.close();
  });

  it('TLS certificate auth', async () => {
    const client = await clientCertificate(server.dir);
    await server.api('POST', 'sys/auth/cert', { type: 'cert' });
    await server.api('POST', 'auth/cert/certs/kleidi', {
      certificate: client.pem,
      token_policies: ['kleidi'],
      token_ttl: '1h',
    });
    const w = await openWrapper({
      address: server.address,
      auth: { method: 'cert', mount: 'cert', role: 'kleidi' },
      tls: { caFile: server.tls?.caFile ?? '', clientCertFile: client.certFile, clientKeyFile: client.keyFile },
    });
    await roundTrip(w);
    expect(w.details()).toMatchObject({ method: 'cert', logins: 1 });
    await w.close();
  });
});
