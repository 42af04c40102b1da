import { KMSClient } from '@aws-sdk/client-kms';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { type AwsCallSettings, KmsApi } from './aws-kms.client.js';
import { type AwsCredentials, type CredentialSource, RefreshingCredentials } from './aws-kms.credentials.js';
import { AwsCallFailure, classifyFailure } from './aws-kms.errors.js';
import { AwsKmsKeyAdmin } from './aws-kms.key-admin.js';
import { AwsKmsKeyWrapper } from './aws-kms.key-wrapper.js';
import { type KeyReference, parseKeyReference } from './aws-kms.keys.js';

/** Everything the aws backend needs, already validated by the composition root. */
export interface AwsKmsSettings {
  /** Alias (`alias/kleidi`), alias ARN, key ARN or key ID. */
  readonly key: string;
  /** Unset: the SDK's own resolution (AWS_REGION, then the shared config profile). */
  readonly region?: string;
  /** Unset: the SDK's endpoint for the Region (AWS_ENDPOINT_URL_KMS also applies). */
  readonly endpoint?: string;
  readonly useFipsEndpoint: boolean;
  /** Shared config/credentials profile; unset: AWS_PROFILE or "default". */
  readonly profile?: string;
  /**
   * Static credentials the composition read from the environment (AWS_ACCESS_KEY_ID, …) before
   * removing their secrets from process.env; used instead of the default chain, whose first
   * source they are.
   */
  readonly environmentCredentials?: AwsCredentials;
  readonly calls: AwsCallSettings;
}

export interface AwsKmsDeps {
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * Builds the serving KeyWrapper. Refuses to start (BackendMisconfiguredError)
 * on what only an operator can fix: no Region, a malformed key setting, an
 * alias or key that does not exist, a key of the wrong type, access denied.
 * If KMS or the credential source is merely unreachable it starts anyway;
 * health reports the problem and the refresh retries.
 */
export async function openAwsKmsWrapper(s: AwsKmsSettings, deps: AwsKmsDeps): Promise<AwsKmsKeyWrapper> {
  const stack = await openStack(s, deps);
  const wrapper = new AwsKmsKeyWrapper(stack.api, stack.key, stack.region, stack.credentials);
  try {
    await wrapper.currentVersion(AbortSignal.timeout(s.calls.callBudgetMs * 2));
  } catch (err) {
    if (err instanceof BackendMisconfiguredError) {
      await wrapper.close();
      throw err;
    }
    stack.log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'AWS KMS not usable yet; retrying');
  }
  return wrapper;
}

/** Builds the KeyAdmin behind `kleidi init | rotate | keys`. */
export async function openAwsKmsAdmin(s: AwsKmsSettings, deps: AwsKmsDeps): Promise<AwsKmsKeyAdmin> {
  const stack = await openStack(s, deps);
  return new AwsKmsKeyAdmin(stack.api, stack.key, deps.clock, stack.log);
}

async function openStack(s: AwsKmsSettings, deps: AwsKmsDeps) {
  const key = parseKeyReference(s.key);
  if (!key) {
    throw new BackendMisconfiguredError(
      `aws.key ${JSON.stringify(s.key)} is not an alias (alias/name), alias ARN, key ARN or key ID`,
    );
  }
  const log = deps.log.child({ key: key.input });
  // The SDK's default chain: environment, SSO, shared config and credentials files, credential
  // process, web identity token file (IRSA), container credentials (ECS, EKS Pod Identity), IMDSv2.
  const fixed = s.environmentCredentials;
  const chain: CredentialSource = fixed
    ? () => Promise.resolve(fixed)
    : defaultProvider(s.profile ? { profile: s.profile } : {});
  const credentials = new RefreshingCredentials(chain, deps.clock, log);
  const kms = new KMSClient({
    ...(s.region ? { region: s.region } : {}),
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(s.profile ? { profile: s.profile } : {}),
    useFipsEndpoint: s.useFipsEndpoint,
    credentials: credentials.provider(),
    // kleidi retries itself, inside the call budget (KmsApi).
    maxAttempts: 1,
    requestHandler: { connectionTimeout: s.calls.attemptTimeoutMs, requestTimeout: s.calls.attemptTimeoutMs },
  });
  const api = new KmsApi(kms, credentials, s.calls, log);
  const region = await resolveRegion(api, s).catch((err: unknown) => {
    api.close();
    throw err;
  });
  return { api, key: key satisfies KeyReference, region, credentials, log: log.child({ region }) };
}

async function resolveRegion(api: KmsApi, s: AwsKmsSettings): Promise<string> {
  let region: string;
  try {
    region = await api.region();
  } catch (err) {
    const f = classifyFailure(err);
    const detail = f instanceof AwsCallFailure ? f.detail : f.message;
    throw new BackendMisconfiguredError(
      `no AWS Region: set aws.region (KLEIDI_AWS_REGION) or AWS_REGION${s.profile ? ` or region in profile ${s.profile}` : ''} (${detail})`,
    );
  }
  if (!/^[a-z0-9-]{1,32}$/.test(region)) {
    throw new BackendMisconfiguredError(`AWS Region ${JSON.stringify(region)} is not a Region name`);
  }
  return region;
}
