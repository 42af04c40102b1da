import { describe, expect, it } from 'vitest';
import { GcpConfigSchema, gcpBackend, gcpSettings } from '#src/composition/backends/gcp.js';
import { backendByName } from '#src/composition/backends/index.js';
import { envToRaw } from '#src/composition/config/load.js';

const KEY = 'projects/my-project/locations/europe-west1/keyRings/kleidi/cryptoKeys/kek';

describe('gcp backend config', () => {
  it('needs a key; defaults: ADC, the public endpoint, a budget below 3 s', () => {
    expect(GcpConfigSchema.safeParse({}).success).toBe(false);
    expect(GcpConfigSchema.parse({ key: KEY })).toEqual({
      key: KEY,
      callTimeoutMs: 2_500,
      attemptTimeoutMs: 1_000,
      maxAttempts: 3,
    });
    expect(backendByName('gcp')).toBe(gcpBackend);
    expect(gcpBackend).toMatchObject({ name: 'gcp', section: 'gcp', secretEnv: [] });
  });

  it('takes every setting from its KLEIDI_GCP_* twin', () => {
    const raw = envToRaw({
      KLEIDI_GCP_KEY: KEY,
      KLEIDI_GCP_ENDPOINT: 'kms.p.googleapis.com:443',
      KLEIDI_GCP_CA_FILE: '/etc/kleidi/ca.pem',
      KLEIDI_GCP_CREDENTIALS_FILE: '/etc/kleidi/gcp.json',
      KLEIDI_GCP_CALL_TIMEOUT_MS: '2000',
      KLEIDI_GCP_ATTEMPT_TIMEOUT_MS: '3000',
      KLEIDI_GCP_MAX_ATTEMPTS: '4',
    });
    const c = GcpConfigSchema.parse(raw.gcp);
    expect(gcpSettings(c)).toEqual({
      key: KEY,
      endpoint: 'kms.p.googleapis.com:443',
      caFile: '/etc/kleidi/ca.pem',
      credentialsFile: '/etc/kleidi/gcp.json',
      // An attempt never outlasts the call.
      calls: { callBudgetMs: 2_000, attemptTimeoutMs: 2_000, maxAttempts: 4 },
    });
  });

  it('refuses a key that is not a CryptoKey name and an endpoint that is not host:port', () => {
    expect(GcpConfigSchema.safeParse({ key: 'kek' }).success).toBe(false);
    expect(GcpConfigSchema.safeParse({ key: KEY, endpoint: 'https://cloudkms.googleapis.com' }).success).toBe(false);
    expect(GcpConfigSchema.safeParse({ key: KEY, endpoint: '[::1]:8443' }).success).toBe(true);
  });
});
