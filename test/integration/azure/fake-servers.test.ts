import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { azureTestCa } from '../../support/azure-test-ca.js';
import { type AzureStack, startAzureStack } from '../../support/azure.harness.js';

/**
 * The fake Key Vault and Entra ID against the REST reference's own examples, over plain HTTPS
 * (no SDK): Get Key (https://learn.microsoft.com/en-us/rest/api/keyvault/keys/get-key/get-key,
 * sample "Get key"), Wrap Key (…/wrap-key/wrap-key), the authentication challenge
 * (https://learn.microsoft.com/en-us/azure/key-vault/general/authentication-requests-and-responses)
 * and the KeyVaultError body.
 */
interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

function call(url: string, method: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((ok, fail) => {
    const req = request(url, { method, ca: azureTestCa().caPem, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        ok({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
        });
      });
    });
    req.on('error', fail);
    req.end(body);
  });
}

describe('fake Key Vault and Entra ID against the REST reference', () => {
  let stack: AzureStack;
  let token: string;
  let version: string;
  const json = (t: string) => ({ authorization: `Bearer ${t}`, 'content-type': 'application/json' });

  beforeAll(async () => {
    stack = await startAzureStack();
    stack.entra.register('sample-app', { kind: 'secret', secret: 'sample-secret' });
    stack.vault.grant('sample-app', 'crypto-officer');
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'sample-app',
      client_secret: 'sample-secret',
      scope: 'https://vault.azure.net/.default',
    }).toString();
    const t = await call(`${stack.entra.authorityHost}/${stack.entra.tenantId}/oauth2/v2.0/token`, 'POST', form, {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(t.status).toBe(200);
    expect(t.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    token = String(t.body.access_token);
    version = await stack.vault.createKey('CreateSoftKeyTest', 'RSA');
  });

  afterAll(() => stack?.stop());

  it('answers an unauthenticated request with the challenge', async () => {
    const r = await call(`${stack.vault.url}/keys/CreateSoftKeyTest/${version}?api-version=7.4`, 'GET');
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe(
      `Bearer authorization="${stack.entra.authorityHost}/${stack.entra.tenantId}", resource="https://vault.azure.net"`,
    );
    expect(r.body).toMatchObject({ error: { code: 'Unauthorized' } });
  });

  it('serves the sample "Get key" request and answers a key bundle shaped like the sample response', async () => {
    // The sample request's own path, double slash included.
    const r = await call(
      `${stack.vault.url}//keys/CreateSoftKeyTest/${version}?api-version=7.4`,
      'GET',
      undefined,
      json(token),
    );
    expect(r.status).toBe(200);
    const key = r.body.key as Record<string, unknown>;
    expect(Object.keys(key).sort()).toEqual(['e', 'key_ops', 'kid', 'kty', 'n']);
    expect(key).toMatchObject({
      kid: `${stack.vault.url}/keys/CreateSoftKeyTest/${version}`,
      kty: 'RSA',
      key_ops: ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'],
      e: 'AQAB',
    });
    expect(String(key.n)).toMatch(/^[A-Za-z0-9_-]{342}$/); // 2048 bits, base64url, as in the sample
    expect(r.body.attributes).toMatchObject({ enabled: true, recoveryLevel: 'Recoverable+Purgeable' });
    expect(typeof (r.body.attributes as Record<string, unknown>).created).toBe('number');
    // No version in the path: the latest version (URI parameter key-version is optional).
    const latest = await call(
      `${stack.vault.url}/keys/CreateSoftKeyTest?api-version=2025-07-01`,
      'GET',
      undefined,
      json(token),
    );
    expect((latest.body.key as Record<string, unknown>).kid).toBe(key.kid);
  });

  it('wraps and unwraps as Wrap Key and Unwrap Key document: {alg, value} in, {kid, value} out', async () => {
    const value = Buffer.from('a 32-byte symmetric key to wrap!').toString('base64url');
    const base = `${stack.vault.url}/keys/CreateSoftKeyTest/${version}`;
    const w = await call(
      `${base}/wrapkey?api-version=7.4`,
      'POST',
      JSON.stringify({ alg: 'RSA-OAEP-256', value }),
      json(token),
    );
    expect(w.status).toBe(200);
    expect(w.body.kid).toBe(base);
    expect(Buffer.from(String(w.body.value), 'base64url')).toHaveLength(256);
    const u = await call(
      `${base}/unwrapkey?api-version=7.4`,
      'POST',
      JSON.stringify({ alg: 'RSA-OAEP-256', value: w.body.value }),
      json(token),
    );
    expect(u.body).toEqual({ kid: base, value });
  });

  it('answers errors with the KeyVaultError body and refuses api-versions before 7.4', async () => {
    const missing = await call(`${stack.vault.url}/keys/nope?api-version=7.4`, 'GET', undefined, json(token));
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'KeyNotFound', message: expect.any(String) } });
    const old = await call(`${stack.vault.url}/keys/CreateSoftKeyTest?api-version=7.0`, 'GET', undefined, json(token));
    expect(old.status).toBe(400);
    expect(old.body).toMatchObject({ error: { code: 'BadParameter' } });
    const forged = await call(
      `${stack.vault.url}/keys/CreateSoftKeyTest?api-version=7.4`,
      'GET',
      undefined,
      json(`${token}x`),
    );
    expect(forged.status).toBe(401);
  });

  it('throttles with 429, Retry-After and the Throttled code', async () => {
    stack.vault.faults.throttle = { count: 1, retryAfterSeconds: 7 };
    const r = await call(`${stack.vault.url}/keys/CreateSoftKeyTest?api-version=7.4`, 'GET', undefined, json(token));
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('7');
    expect(r.body).toMatchObject({ error: { code: 'Throttled' } });
  });

  it('refuses a Crypto User what only a Crypto Officer may do, with ForbiddenByRbac', async () => {
    stack.entra.register('reader', { kind: 'secret', secret: 'reader-secret' });
    stack.vault.grant('reader', 'crypto-user');
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'reader',
      client_secret: 'reader-secret',
      scope: 'https://vault.azure.net/.default',
    }).toString();
    const t = await call(`${stack.entra.authorityHost}/${stack.entra.tenantId}/oauth2/v2.0/token`, 'POST', form, {
      'content-type': 'application/x-www-form-urlencoded',
    });
    const r = await call(
      `${stack.vault.url}/keys/CreateSoftKeyTest/rotate?api-version=7.4`,
      'POST',
      '{}',
      json(String(t.body.access_token)),
    );
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ error: { code: 'Forbidden', innererror: { code: 'ForbiddenByRbac' } } });
    const bad = await call(
      `${stack.entra.authorityHost}/${stack.entra.tenantId}/oauth2/v2.0/token`,
      'POST',
      form.replace('reader-secret', 'wrong'),
      {
        'content-type': 'application/x-www-form-urlencoded',
      },
    );
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ error: 'invalid_client' });
  });
});
