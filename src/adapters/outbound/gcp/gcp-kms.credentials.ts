import {
  type AuthClient,
  AwsClient,
  type AwsClientOptions,
  GoogleAuth,
  IdentityPoolClient,
  type IdentityPoolClientOptions,
  JWT,
  UserRefreshClient,
} from 'google-auth-library';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { readSecretFile } from '../shared/secret-file.js';

/** Cloud KMS's OAuth scope (https://cloud.google.com/kms/docs/reference/rest, Authorization scopes). */
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
/** The service a self-signed JWT is for (the audience google-auth-library derives from it). */
const CLOUD_KMS_SERVICE = 'cloudkms.googleapis.com';
/** A credentials file is a few KB of JSON; anything larger is the wrong file. */
const MAX_CREDENTIALS_BYTES = 64 * 1024;

/**
 * The GoogleAuth kleidi's client authenticates with. With a credentials file (gcp.credentialsFile)
 * the file is read with kleidi's secret-file policy (regular file, mode 0600, owned by
 * kleidi's user or root behind a Secret volume link) and the client for its type is built
 * from it, so google-auth-library never opens it itself
 * (https://cloud.google.com/docs/authentication/application-default-credentials):
 * - `service_account`: a service-account key; calls carry a JWT signed with it (self-signed,
 *   as the generated Cloud clients ask for with useJWTAccessWithScope: no token exchange);
 * - `external_account`: workload identity federation; the library reads the subject token
 *   the file names (e.g. a projected Kubernetes service-account token) and exchanges it at
 *   the STS endpoint it names;
 * - `authorized_user`: a gcloud user login, for trying kleidi out.
 * Without a file, Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud's
 * well-known file, then the metadata server (GKE workload identity, Compute Engine).
 */
export async function googleAuth(credentialsFile: string | undefined): Promise<GoogleAuth> {
  if (credentialsFile === undefined) return new GoogleAuth({ scopes: [CLOUD_PLATFORM] });
  const file = await readSecretFile(credentialsFile, {
    what: 'Google credentials file',
    followLinks: true,
    maxBytes: MAX_CREDENTIALS_BYTES,
  });
  let json: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(file.text);
    if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
    json = parsed as Record<string, unknown>;
  } catch {
    throw new BackendMisconfiguredError(`Google credentials file ${credentialsFile} is not a JSON object`);
  }
  return new GoogleAuth({ authClient: clientFor(json, credentialsFile) });
}

function clientFor(json: Record<string, unknown>, path: string): AuthClient {
  const text = (key: string): string => {
    const v = json[key];
    if (typeof v !== 'string' || v.length === 0) {
      throw new BackendMisconfiguredError(`Google credentials file ${path} has no ${key}`);
    }
    return v;
  };
  switch (json.type) {
    case 'service_account': {
      const jwt = new JWT({
        email: text('client_email'),
        key: text('private_key'),
        ...(typeof json.private_key_id === 'string' ? { keyId: json.private_key_id } : {}),
        scopes: [CLOUD_PLATFORM],
      });
      // What GoogleAuth.setGapicJWTValues does for generated clients: a self-signed JWT with the scope.
      jwt.useJWTAccessWithScope = true;
      jwt.defaultServicePath = CLOUD_KMS_SERVICE;
      return jwt;
    }
    case 'external_account': {
      // As ExternalAccountClient.fromJSON dispatches, without its console warning (the file is
      // trusted: kleidi's own secret file). Executable-sourced credentials are not supported: kleidi
      // runs no helper programs.
      const source = json.credential_source as Record<string, unknown> | undefined;
      if (source?.executable) {
        throw new BackendMisconfiguredError(
          `Google credentials file ${path} uses an executable credential source, which kleidi does not run`,
        );
      }
      const options = { ...json, scopes: [CLOUD_PLATFORM] };
      try {
        return source?.environment_id
          ? new AwsClient(options as unknown as AwsClientOptions)
          : new IdentityPoolClient(options as unknown as IdentityPoolClientOptions);
      } catch (err) {
        throw new BackendMisconfiguredError(
          `Google credentials file ${path} is not a usable external_account: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    case 'authorized_user':
      return new UserRefreshClient({
        clientId: text('client_id'),
        clientSecret: text('client_secret'),
        refreshToken: text('refresh_token'),
      });
    default:
      throw new BackendMisconfiguredError(
        `Google credentials file ${path} has type ${JSON.stringify(json.type)}; expected service_account, ` +
          'external_account or authorized_user',
      );
  }
}
