import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeDsv, startFakeDsv } from '../../support/fake-delinea-dsv.js';
import { type FakeSecretServer, startFakeSecretServer } from '../../support/fake-delinea.js';

/** One raw HTTPS exchange, trusting only `caFile`: the fakes are checked without kleidi's client. */
function send(
  url: string,
  caFile: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown }> {
  return new Promise((ok, fail) => {
    const r = request(`${url}${path}`, { method, ca: readFileSync(caFile), headers }, (res) => {
      let raw = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (raw += c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, json: raw ? (JSON.parse(raw) as unknown) : undefined }));
    });
    r.on('error', fail);
    if (body !== undefined) r.write(body);
    r.end();
  });
}

const form = { 'content-type': 'application/x-www-form-urlencoded' };
const json = { 'content-type': 'application/json' };

/**
 * The fake Secret Server answers the documented requests as documented: the OAuth2 token request
 * exactly as Delinea's tss-sdk-go sends it (form-encoded password grant), the RFC 6749 §5.2 error
 * body, and the fields endpoint's JSON-string value.
 */
describe('fake Secret Server (test/support/fake-delinea.ts)', () => {
  let dir: string;
  let ss: FakeSecretServer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-fake-ss-'));
    ss = await startFakeSecretServer({ dir });
  });
  afterAll(async () => {
    await ss.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('issues a bearer token for the password grant and refuses a wrong password with invalid_grant', async () => {
    const good = new URLSearchParams({ username: ss.username, password: ss.password, grant_type: 'password' });
    const t = await send(ss.url, ss.caFile, 'POST', '/oauth2/token', good.toString(), form);
    expect(t.status).toBe(200);
    expect(t.json).toMatchObject({ token_type: 'bearer', expires_in: 1200 });
    expect(typeof (t.json as { access_token: unknown }).access_token).toBe('string');
    const bad = new URLSearchParams({ username: ss.username, password: 'wrong', grant_type: 'password' });
    expect(await send(ss.url, ss.caFile, 'POST', '/oauth2/token', bad.toString(), form)).toEqual({
      status: 400,
      json: { error: 'invalid_grant' },
    });
  });

  it('serves a secret, its field as a JSON string, updates it, and refuses without a valid token', async () => {
    const id = ss.createSecret('doc-example');
    const grant = new URLSearchParams({ username: ss.username, password: ss.password, grant_type: 'password' });
    const t = await send(ss.url, ss.caFile, 'POST', '/oauth2/token', grant.toString(), form);
    const auth = { authorization: `Bearer ${(t.json as { access_token: string }).access_token}` };
    expect(await send(ss.url, ss.caFile, 'GET', `/api/v1/secrets/${id}/fields/notes`, undefined, auth)).toEqual({
      status: 200,
      json: '',
    });
    const put = await send(
      ss.url,
      ss.caFile,
      'PUT',
      `/api/v1/secrets/${id}/fields/notes`,
      JSON.stringify({ value: 'hello' }),
      { ...auth, ...json },
    );
    expect(put).toEqual({ status: 200, json: 'hello' });
    const secret = await send(ss.url, ss.caFile, 'GET', `/api/v1/secrets/${id}`, undefined, auth);
    expect(secret.json).toMatchObject({ id, name: 'doc-example', items: [{ slug: 'notes', itemValue: 'hello' }] });
    const none = await send(ss.url, ss.caFile, 'GET', `/api/v1/secrets/${id}/fields/notes`);
    expect(none.status).toBe(401);
    ss.deleteSecret(id);
    expect((await send(ss.url, ss.caFile, 'GET', `/api/v1/secrets/${id}`, undefined, auth)).status).toBe(404);
  });
});

/**
 * The fake DSV answers the DSV CLI's requests (dsv-cli commands/encryption_auto.go): a saved
 * encrypt answer works unchanged as a decrypt request, as the CLI uses it.
 */
describe('fake DSV (test/support/fake-delinea-dsv.ts)', () => {
  let dir: string;
  let dsv: FakeDsv;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-fake-dsv-'));
    dsv = await startFakeDsv({ dir });
  });
  afterAll(async () => {
    await dsv.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('token, key create, encrypt, decrypt from the saved answer, rotate to a new version', async () => {
    const creds = { grant_type: 'client_credentials', client_id: dsv.clientId, client_secret: dsv.clientSecret };
    const t = await send(dsv.url, dsv.caFile, 'POST', '/v1/token', JSON.stringify(creds), json);
    expect(t.json).toMatchObject({ tokenType: 'bearer', expiresIn: 3600 });
    const auth = { authorization: `Bearer ${(t.json as { accessToken: string }).accessToken}`, ...json };
    expect((await send(dsv.url, dsv.caFile, 'POST', '/v1/crypto/key/mykeys/key1', undefined, auth)).status).toBe(200);
    const enc = await send(
      dsv.url,
      dsv.caFile,
      'POST',
      '/v1/crypto/encrypt',
      JSON.stringify({ path: 'mykeys/key1', plaintext: 'hello world', version: '' }),
      auth,
    );
    expect(enc.json).toMatchObject({ path: 'mykeys/key1', version: '1' });
    const dec = await send(dsv.url, dsv.caFile, 'POST', '/v1/crypto/decrypt', JSON.stringify(enc.json), auth);
    expect(dec.json).toEqual({ path: 'mykeys/key1', data: 'hello world', version: '1' });
    const { ciphertext } = enc.json as { ciphertext: string };
    const rot = await send(
      dsv.url,
      dsv.caFile,
      'POST',
      '/v1/crypto/rotate',
      JSON.stringify({ path: 'mykeys/key1', ciphertext, startingVersion: '1', endingVersion: '' }),
      auth,
    );
    expect(rot.json).toMatchObject({ version: '2' });
    expect(dsv.latest('mykeys/key1')).toBe(2);
    const wrong = await send(
      dsv.url,
      dsv.caFile,
      'POST',
      '/v1/token',
      JSON.stringify({ ...creds, client_secret: 'x' }),
      json,
    );
    expect(wrong.status).toBe(401);
  });
});
