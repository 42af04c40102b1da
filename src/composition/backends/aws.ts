import { z } from 'zod';
import type { AwsKmsSettings } from '../../adapters/outbound/aws/aws-kms.open.js';
import { flag } from '../config/duration.js';
import { type BackendContext, defineBackend } from './backend.js';

/**
 * The secrets of static credentials in the environment, which the SDK's default chain would
 * read from process.env whenever it fetches credentials (fromEnv). kleidi reads them once
 * here instead and removes them from process.env at startup (src/main.ts), so they reach
 * neither child processes (credential_process) nor diagnostic reports.
 */
const AWS_SECRET_ENV = ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const;

const ms = () => z.coerce.number().int().positive();

/**
 * The `aws` config section (AWS KMS). Field names give the env names through
 * the loader: key ↔ KLEIDI_AWS_KEY, region ↔ KLEIDI_AWS_REGION, endpoint ↔
 * KLEIDI_AWS_ENDPOINT, … Credentials are never settings: the SDK's default
 * chain reads them (profile files, web identity, container credentials,
 * instance metadata), and static AWS_* environment credentials are read once
 * at startup (AWS_SECRET_ENV), see docs/backends/aws.md.
 */
export const AwsConfigSchema = z.strictObject({
  key: z
    .string()
    .min(1)
    .default('alias/kleidi')
    .meta({
      description:
        'The KMS key: an alias (`alias/name`, rotated by `kleidi rotate`), alias ARN, key ARN or key ID. ' +
        'It must be a symmetric encryption key.',
    }),
  region: z
    .string()
    .regex(/^[a-z0-9-]{1,32}$/, 'must be an AWS Region name, e.g. eu-west-1')
    .optional()
    .meta({ description: 'AWS Region of the key; when unset, AWS_REGION or the profile decides.' }),
  endpoint: z
    .url({ protocol: /^https?$/ })
    .optional()
    .meta({ description: 'KMS endpoint URL instead of the Region default (VPC endpoint, test server).' }),
  useFipsEndpoint: flag
    .default(false)
    .meta({ description: "Use the Region's FIPS 140 KMS endpoint (kms-fips.<region>.amazonaws.com)." }),
  profile: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'Profile in the shared AWS config and credentials files; when unset, AWS_PROFILE.' }),
  callTimeoutMs: ms().max(60_000).default(2_500).meta({
    description: "Budget in ms of one KMS call, retries included; keep it below the apiserver's 3 s KMS timeout.",
  }),
  attemptTimeoutMs: ms().max(60_000).default(1_000).meta({ description: 'Timeout in ms of one HTTP attempt.' }),
  maxAttempts: z.coerce
    .number()
    .int()
    .min(1)
    .max(10)
    .default(3)
    .meta({ description: 'Attempts per call for throttling, 5xx and connection failures.' }),
});

export type AwsConfig = z.output<typeof AwsConfigSchema>;

/** Maps the validated section to the adapter's settings; static credentials come from the env copy. */
export function awsSettings(c: AwsConfig, env: BackendContext['env'] = {}): AwsKmsSettings {
  const credentials = environmentCredentials(c, env);
  return {
    key: c.key,
    ...(credentials ? { environmentCredentials: credentials } : {}),
    ...(c.region ? { region: c.region } : {}),
    ...(c.endpoint ? { endpoint: c.endpoint } : {}),
    ...(c.profile ? { profile: c.profile } : {}),
    useFipsEndpoint: c.useFipsEndpoint,
    calls: {
      callBudgetMs: c.callTimeoutMs,
      attemptTimeoutMs: Math.min(c.attemptTimeoutMs, c.callTimeoutMs),
      maxAttempts: c.maxAttempts,
    },
  };
}

/**
 * Static credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN
 * and AWS_CREDENTIAL_EXPIRATION), when the SDK's default chain would use them: it skips them
 * when a profile is named (@aws-sdk/credential-provider-node, defaultProvider).
 */
function environmentCredentials(
  c: AwsConfig,
  env: BackendContext['env'],
): AwsKmsSettings['environmentCredentials'] | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey || c.profile || env.AWS_PROFILE) return undefined;
  const expiration = env.AWS_CREDENTIAL_EXPIRATION ? new Date(env.AWS_CREDENTIAL_EXPIRATION) : undefined;
  return {
    accessKeyId,
    secretAccessKey,
    ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    ...(expiration && !Number.isNaN(expiration.getTime()) ? { expiration } : {}),
  };
}

/** The AWS KMS backend (`backend: aws`). */
export const awsBackend = defineBackend({
  name: 'aws',
  summary: 'a symmetric AWS KMS key behind an alias',
  section: 'aws',
  schema: AwsConfigSchema,
  secretEnv: [...AWS_SECRET_ENV],
  adapter: 'aws',
  libraries: ['@aws-sdk/client-kms', '@aws-sdk/credential-provider-node'],
  docs: 'docs/backends/aws.md',
  testing: {
    harness: 'test/backends/aws.harness.ts',
    contract: 'test/contract/aws.contract.test.ts',
    campaign: 'test/reliability/35-aws.campaign.ts',
  },
  // The adapter (@aws-sdk/client-kms) is imported only when this backend is used, so the other
  // backends do not load it on every start (docs/benchmarks.md, start to ready).
  openWrapper: async (c, ctx) => {
    const { openAwsKmsWrapper } = await import('../../adapters/outbound/aws/aws-kms.open.js');
    return openAwsKmsWrapper(awsSettings(c, ctx.env), { clock: ctx.clock, log: ctx.logger });
  },
  openAdmin: async (c, ctx) => {
    const { openAwsKmsAdmin } = await import('../../adapters/outbound/aws/aws-kms.open.js');
    return openAwsKmsAdmin(awsSettings(c, ctx.env), { clock: ctx.clock, log: ctx.logger });
  },
});
