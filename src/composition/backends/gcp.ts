import { z } from 'zod';
import type { GcpKmsSettings } from '../../adapters/outbound/gcp/gcp-kms.open.js';
import { defineBackend } from './backend.js';

const ms = () => z.coerce.number().int().positive();
const path = () => z.string().min(1);

/**
 * The `gcp` config section (Google Cloud KMS). Field names give the env names through the
 * loader: key ↔ KLEIDI_GCP_KEY, endpoint ↔ KLEIDI_GCP_ENDPOINT, credentialsFile ↔
 * KLEIDI_GCP_CREDENTIALS_FILE, … Credentials are never settings, only the path of a file
 * holding them; without one, Application Default Credentials apply (docs/backends/gcp.md).
 */
export const GcpConfigSchema = z.strictObject({
  key: z
    .string()
    .regex(
      /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/,
      'must be projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>',
    )
    .meta({
      description:
        'The Cloud KMS CryptoKey (purpose ENCRYPT_DECRYPT): projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>. ' +
        'kleidi encrypts with its primary version.',
    }),
  endpoint: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port')
    .optional()
    .meta({
      description:
        'host:port of the Cloud KMS gRPC endpoint instead of cloudkms.googleapis.com:443 (Private Service Connect, test server).',
    }),
  caFile: path()
    .optional()
    .meta({ description: "PEM CA bundle to verify the endpoint's TLS certificate with, instead of the system roots." }),
  credentialsFile: path()
    .optional()
    .meta({
      description:
        'Service-account key or workload identity federation (external_account) JSON file, mode 0600; ' +
        'when unset, Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, the GKE metadata server).',
    }),
  callTimeoutMs: ms().max(60_000).default(2_500).meta({
    description: "Budget in ms of one Cloud KMS call, retries included; keep it below the apiserver's 3 s KMS timeout.",
  }),
  attemptTimeoutMs: ms().max(60_000).default(1_000).meta({ description: 'gRPC deadline in ms of one attempt.' }),
  maxAttempts: z.coerce
    .number()
    .int()
    .min(1)
    .max(10)
    .default(3)
    .meta({ description: 'Attempts per call for UNAVAILABLE, RESOURCE_EXHAUSTED and failed integrity checks.' }),
});

export type GcpConfig = z.output<typeof GcpConfigSchema>;

/** Maps the validated section to the adapter's settings. */
export function gcpSettings(c: GcpConfig): GcpKmsSettings {
  return {
    key: c.key,
    ...(c.endpoint ? { endpoint: c.endpoint } : {}),
    ...(c.caFile ? { caFile: c.caFile } : {}),
    ...(c.credentialsFile ? { credentialsFile: c.credentialsFile } : {}),
    calls: {
      callBudgetMs: c.callTimeoutMs,
      attemptTimeoutMs: Math.min(c.attemptTimeoutMs, c.callTimeoutMs),
      maxAttempts: c.maxAttempts,
    },
  };
}

/** The Google Cloud KMS backend (`backend: gcp`). */
export const gcpBackend = defineBackend({
  name: 'gcp',
  summary: 'a symmetric Google Cloud KMS CryptoKey, its primary version',
  section: 'gcp',
  schema: GcpConfigSchema,
  secretEnv: [],
  adapter: 'gcp',
  libraries: ['@google-cloud/kms', 'google-gax', 'google-auth-library'],
  docs: 'docs/backends/gcp.md',
  testing: {
    harness: 'test/backends/gcp.harness.ts',
    contract: 'test/contract/gcp.contract.test.ts',
    campaign: 'test/reliability/36-gcp.campaign.ts',
  },
  // The adapter (@google-cloud/kms, google-gax) is imported only when this backend is used, so
  // the other backends do not load it on every start (docs/benchmarks.md, start to ready).
  openWrapper: async (c, ctx) => {
    const { openGcpKmsWrapper } = await import('../../adapters/outbound/gcp/gcp-kms.open.js');
    return openGcpKmsWrapper(gcpSettings(c), { log: ctx.logger });
  },
  openAdmin: async (c, ctx) => {
    const { openGcpKmsAdmin } = await import('../../adapters/outbound/gcp/gcp-kms.open.js');
    return openGcpKmsAdmin(gcpSettings(c), { log: ctx.logger });
  },
});
