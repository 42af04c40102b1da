import { KeyManagementServiceClient } from '@google-cloud/kms';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GoogleAuth, JWT } from 'google-auth-library';
import { grpc } from 'google-gax';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32cReference, GCP_KEY_RING, type GcpKms, startGcpKms } from '../../support/gcp-kms.fixture.js';

/**
 * The Cloud KMS test server checked against Google's reference with the real client
 * (https://cloud.google.com/kms/docs/reference/rpc/google.cloud.kms.v1): the resource names,
 * fields and status codes kleidi relies on, as the reference and the data integrity
 * guidelines (https://cloud.google.com/kms/docs/data-integrity-guidelines) describe them.
 */

/** A client as an application would build it, with a service-account key (or another key). */
function clientFor(kms: GcpKms, privateKey?: string): KeyManagementServiceClient {
  const sa = JSON.parse(readFileSync(kms.credentialsFile, 'utf8'));
  const jwt = new JWT({
    email: sa.client_email,
    key: privateKey ?? sa.private_key,
    keyId: sa.private_key_id,
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
  });
  jwt.useJWTAccessWithScope = true;
  jwt.defaultServicePath = 'cloudkms.googleapis.com';
  const sslCreds = grpc.credentials.combineChannelCredentials(
    grpc.credentials.createSsl(readFileSync(kms.caFile)),
    grpc.credentials.createFromGoogleCredential({
      getRequestHeaders: async (url?: string) => Object.fromEntries(await jwt.getRequestHeaders(url)),
    }),
  );
  return new KeyManagementServiceClient({
    auth: new GoogleAuth({ authClient: jwt }),
    apiEndpoint: '127.0.0.1',
    port: kms.port,
    sslCreds,
  });
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'OK',
    (e: { code?: number }) => grpc.status[e.code ?? 2],
  );

describe('Cloud KMS test server, with the real client', () => {
  let kms: GcpKms;
  let client: KeyManagementServiceClient;
  const key = `${GCP_KEY_RING}/cryptoKeys/fixture`;
  const options = { timeout: 2_000, retry: null };

  beforeAll(async () => {
    kms = await startGcpKms();
    client = clientFor(kms);
    const [created] = await client.createCryptoKey(
      { parent: GCP_KEY_RING, cryptoKeyId: 'fixture', cryptoKey: { purpose: 'ENCRYPT_DECRYPT' } },
      options,
    );
    // CreateCryptoKey makes version 1 and, for ENCRYPT_DECRYPT, its primary.
    expect(created.primary?.name).toBe(`${key}/cryptoKeyVersions/1`);
    expect(created.primary?.state).toBe('ENABLED');
  });

  afterAll(async () => {
    await client?.close();
    await kms?.stop();
  });

  it('matches the reference CRC32C check value (RFC 3720 B.4)', () => {
    expect(crc32cReference(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('Encrypt by key uses the primary, names it, and sets the integrity fields; Decrypt reverses it', async () => {
    const plaintext = Buffer.from('a 32-byte seed, give or take....');
    const aad = Buffer.from('header');
    const [enc] = await client.encrypt(
      {
        name: key,
        plaintext,
        additionalAuthenticatedData: aad,
        plaintextCrc32c: { value: crc32cReference(plaintext) },
        additionalAuthenticatedDataCrc32c: { value: crc32cReference(aad) },
      },
      options,
    );
    expect(enc.name).toBe(`${key}/cryptoKeyVersions/1`);
    expect(enc.verifiedPlaintextCrc32c).toBe(true);
    expect(enc.verifiedAdditionalAuthenticatedDataCrc32c).toBe(true);
    const ciphertext = Buffer.from(enc.ciphertext as Uint8Array);
    expect(Number(enc.ciphertextCrc32c?.value)).toBe(crc32cReference(ciphertext));
    expect(enc.protectionLevel).toBe('SOFTWARE');
    const [dec] = await client.decrypt({ name: key, ciphertext, additionalAuthenticatedData: aad }, options);
    expect(Buffer.from(dec.plaintext as Uint8Array)).toEqual(plaintext);
    expect(Number(dec.plaintextCrc32c?.value)).toBe(crc32cReference(plaintext));
    expect(dec.usedPrimary).toBe(true);
    // Without request checksums, the verified flags are false (EncryptResponse.verified_plaintext_crc32c).
    const [plain] = await client.encrypt({ name: key, plaintext }, options);
    expect(plain.verifiedPlaintextCrc32c).toBe(false);
    expect(plain.verifiedAdditionalAuthenticatedDataCrc32c).toBe(false);
  });

  it('refuses a request whose CRC32C does not match with INVALID_ARGUMENT and a BadRequest detail', async () => {
    const err = await client
      .encrypt({ name: key, plaintext: Buffer.from('x'), plaintextCrc32c: { value: 1 } }, options)
      .catch(
        (e: unknown) => e as { code: number; statusDetails?: Array<{ fieldViolations?: Array<{ field: string }> }> },
      );
    expect(err).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const fields = (
      Array.isArray((err as { statusDetails?: unknown }).statusDetails)
        ? (err as { statusDetails: Array<{ fieldViolations?: Array<{ field: string }> }> }).statusDetails
        : []
    ).flatMap((d) => d.fieldViolations ?? []);
    expect(fields.map((f) => f.field)).toEqual(['plaintext_crc32c']);
  });

  it('answers a ciphertext under other AAD with INVALID_ARGUMENT, as Cloud KMS does', async () => {
    const [enc] = await client.encrypt(
      { name: key, plaintext: Buffer.from('seed'), additionalAuthenticatedData: Buffer.from('a') },
      options,
    );
    const wrongAad = client.decrypt(
      { name: key, ciphertext: enc.ciphertext, additionalAuthenticatedData: Buffer.from('b') },
      options,
    );
    expect(await codeOf(wrongAad)).toBe('INVALID_ARGUMENT');
  });

  it('keeps versions: a new version is not primary until UpdateCryptoKeyPrimaryVersion; old ciphertexts still decrypt', async () => {
    const [old] = await client.encrypt({ name: key, plaintext: Buffer.from('old') }, options);
    const [v2] = await client.createCryptoKeyVersion({ parent: key, cryptoKeyVersion: {} }, options);
    expect(v2.name).toBe(`${key}/cryptoKeyVersions/2`);
    expect((await client.getCryptoKey({ name: key }, options))[0].primary?.name).toBe(`${key}/cryptoKeyVersions/1`);
    const [updated] = await client.updateCryptoKeyPrimaryVersion({ name: key, cryptoKeyVersionId: '2' }, options);
    expect(updated.primary?.name).toBe(`${key}/cryptoKeyVersions/2`);
    const [dec] = await client.decrypt({ name: key, ciphertext: old.ciphertext }, options);
    expect(Buffer.from(dec.plaintext as Uint8Array).toString()).toBe('old');
    expect(dec.usedPrimary).toBe(false);
    const [, , page] = await client.listCryptoKeyVersions(
      { parent: key, pageSize: 1 },
      { ...options, autoPaginate: false },
    );
    expect(page?.cryptoKeyVersions?.map((v) => v.name)).toEqual([`${key}/cryptoKeyVersions/1`]);
    expect(page?.nextPageToken).not.toBe('');
    expect(page?.totalSize).toBe(2);
  });

  it('refuses Encrypt and Decrypt with a version that is not ENABLED (FAILED_PRECONDITION)', async () => {
    const [enc] = await client.encrypt({ name: `${key}/cryptoKeyVersions/1`, plaintext: Buffer.from('x') }, options);
    kms.setVersionState(`${key}/cryptoKeyVersions/1`, 'DISABLED');
    try {
      expect(await codeOf(client.decrypt({ name: key, ciphertext: enc.ciphertext }, options))).toBe(
        'FAILED_PRECONDITION',
      );
      expect(
        await codeOf(client.encrypt({ name: `${key}/cryptoKeyVersions/1`, plaintext: Buffer.from('x') }, options)),
      ).toBe('FAILED_PRECONDITION');
      expect(await codeOf(client.updateCryptoKeyPrimaryVersion({ name: key, cryptoKeyVersionId: '1' }, options))).toBe(
        'FAILED_PRECONDITION',
      );
    } finally {
      kms.setVersionState(`${key}/cryptoKeyVersions/1`, 'ENABLED');
    }
  });

  it('answers CreateCryptoKey with ALREADY_EXISTS for a taken id and NOT_FOUND for a missing key ring', async () => {
    const again = client.createCryptoKey(
      { parent: GCP_KEY_RING, cryptoKeyId: 'fixture', cryptoKey: { purpose: 'ENCRYPT_DECRYPT' } },
      options,
    );
    expect(await codeOf(again)).toBe('ALREADY_EXISTS');
    const noRing = client.createCryptoKey(
      { parent: `${GCP_KEY_RING}-missing`, cryptoKeyId: 'k', cryptoKey: { purpose: 'ENCRYPT_DECRYPT' } },
      options,
    );
    expect(await codeOf(noRing)).toBe('NOT_FOUND');
    expect(await codeOf(client.getCryptoKey({ name: `${GCP_KEY_RING}/cryptoKeys/none` }, options))).toBe('NOT_FOUND');
  });

  it('verifies the bearer JWT: another signing key is UNAUTHENTICATED; a denied method is PERMISSION_DENIED', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const impostor = clientFor(kms, other.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const before = kms.unauthenticated;
    try {
      expect(await codeOf(impostor.getCryptoKey({ name: key }, options))).toBe('UNAUTHENTICATED');
      expect(kms.unauthenticated).toBe(before + 1);
    } finally {
      await impostor.close();
    }
    kms.denied.add('GetCryptoKey');
    try {
      expect(await codeOf(client.getCryptoKey({ name: key }, options))).toBe('PERMISSION_DENIED');
    } finally {
      kms.denied.delete('GetCryptoKey');
    }
  });
});
