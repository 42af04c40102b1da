import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GcpKmsKeyAdmin } from '#src/adapters/outbound/gcp/gcp-kms.key-admin.js';
import { BackendMisconfiguredError, BackendUnavailableError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import { GCP_KEY_RING, type GcpKms, startGcpKms } from '../../support/gcp-kms.fixture.js';
import { openAdmin, openWrapper } from '../../support/gcp-kms.harness.js';

/**
 * Credentials other than the service-account key: workload identity federation
 * (an external_account file whose subject token the loopback STS stand-in exchanges for access
 * tokens, as Google's STS does: https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token),
 * and credential files kleidi refuses.
 */
describe('gcp credentials', () => {
  let kms: GcpKms;
  let admin: GcpKmsKeyAdmin;
  const key = `${GCP_KEY_RING}/cryptoKeys/credentials`;

  beforeAll(async () => {
    kms = await startGcpKms();
    admin = await openAdmin(kms, { key });
    await admin.init(aSignal());
  });

  afterAll(async () => {
    await admin?.close();
    await kms?.stop();
  });

  it('workload identity federation: the subject token is exchanged at STS and the access token renewed before it expires', async () => {
    kms.accessTokenLifetimeS = 2;
    const w = await openWrapper(kms, { key, credentialsFile: kms.externalAccountFile });
    try {
      const issuedAtStart = kms.stsExchanges.issued;
      expect(issuedAtStart).toBeGreaterThanOrEqual(1);
      const seed = aDataKey();
      const t0 = performance.now();
      // Past two lifetimes of the access token: every call authenticates, none fails.
      while (performance.now() - t0 < 4_500) {
        const v = await w.currentVersion(aSignal());
        expect(await w.unwrap(await w.wrap(seed, v, aSignal()), aSignal())).toEqual(seed);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(kms.stsExchanges.issued).toBeGreaterThan(issuedAtStart + 1);
      expect(kms.unauthenticated).toBe(0);
    } finally {
      kms.accessTokenLifetimeS = 3600;
      await w.close();
    }
  });

  it('refuses to start when STS refuses the subject token, naming the token endpoint; STS down is an outage', async () => {
    const original = await readFile(kms.subjectTokenFile, 'utf8');
    await writeFile(kms.subjectTokenFile, 'a token STS does not accept', { mode: 0o600 });
    const refused = kms.stsExchanges.refused;
    try {
      await expect(openWrapper(kms, { key, credentialsFile: kms.externalAccountFile })).rejects.toThrow(
        /no access token: the token endpoint refused kleidi's credentials \(HTTP 400/,
      );
      expect(kms.stsExchanges.refused).toBeGreaterThan(refused);
    } finally {
      await writeFile(kms.subjectTokenFile, original, { mode: 0o600 });
    }
    // A token endpoint that does not answer is not a misconfiguration: kleidi starts and retries.
    const external = JSON.parse(await readFile(kms.externalAccountFile, 'utf8'));
    const unreachable = join(kms.dir, 'sts-down.json');
    await writeFile(unreachable, JSON.stringify({ ...external, token_url: 'http://127.0.0.1:9/v1/token' }), {
      mode: 0o600,
    });
    const w = await openWrapper(kms, { key, credentialsFile: unreachable, callBudgetMs: 800 });
    try {
      await expect(w.currentVersion(aSignal())).rejects.toThrow(BackendUnavailableError);
    } finally {
      await w.close();
    }
  });

  it('refuses a credentials file of an unknown type, or one that is not JSON', async () => {
    const odd = join(kms.dir, 'odd.json');
    await writeFile(odd, JSON.stringify({ type: 'api_key', key: 'x' }), { mode: 0o600 });
    await expect(openWrapper(kms, { key, credentialsFile: odd })).rejects.toThrow(BackendMisconfiguredError);
    await writeFile(odd, 'not json', { mode: 0o600 });
    await expect(openWrapper(kms, { key, credentialsFile: odd })).rejects.toThrow(/not a JSON object/);
  });
});
