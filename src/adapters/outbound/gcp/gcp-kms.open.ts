import { KeyManagementServiceClient } from '@google-cloud/kms';
import type { GoogleAuth } from 'google-auth-library';
import { grpc } from 'google-gax';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { readTrustedFile } from '../shared/secret-file.js';
import { type GcpCallSettings, KmsApi } from './gcp-kms.client.js';
import { googleAuth } from './gcp-kms.credentials.js';
import { GcpKmsKeyAdmin } from './gcp-kms.key-admin.js';
import { type CryptoKeyRef, parseCryptoKeyName } from './gcp-kms.key-id.js';
import { GcpKmsKeyWrapper } from './gcp-kms.key-wrapper.js';

/** Everything the gcp backend needs, already validated by the composition root. */
export interface GcpKmsSettings {
  /** `projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>`. */
  readonly key: string;
  /** `host:port` instead of cloudkms.googleapis.com:443 (Private Service Connect, a test server). */
  readonly endpoint?: string;
  /** PEM CA bundle the endpoint's certificate is verified with, instead of the system roots. */
  readonly caFile?: string;
  /** Service-account key or workload identity federation file; unset: Application Default Credentials. */
  readonly credentialsFile?: string;
  readonly calls: GcpCallSettings;
}

export interface GcpKmsDeps {
  readonly log: Logger;
}

/**
 * Builds the serving KeyWrapper. Refuses to start (BackendMisconfiguredError) on what only an
 * operator can fix: a malformed key name or endpoint, an unreadable credentials or CA file, a
 * key that does not exist or is not for ENCRYPT_DECRYPT, permission denied. If Cloud KMS is
 * merely unreachable it starts anyway; health reports the problem and the refresh retries.
 */
export async function openGcpKmsWrapper(s: GcpKmsSettings, deps: GcpKmsDeps): Promise<GcpKmsKeyWrapper> {
  const stack = await openStack(s, deps);
  const wrapper = new GcpKmsKeyWrapper(stack.api, stack.key);
  try {
    await wrapper.currentVersion(AbortSignal.timeout(s.calls.callBudgetMs * 2));
  } catch (err) {
    if (err instanceof BackendMisconfiguredError) {
      await wrapper.close();
      throw err;
    }
    stack.log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'Cloud KMS not usable yet; retrying');
  }
  return wrapper;
}

/** Builds the KeyAdmin behind `kleidi init | rotate | keys`. */
export async function openGcpKmsAdmin(s: GcpKmsSettings, deps: GcpKmsDeps): Promise<GcpKmsKeyAdmin> {
  const stack = await openStack(s, deps);
  return new GcpKmsKeyAdmin(stack.api, stack.key, stack.log);
}

async function openStack(s: GcpKmsSettings, deps: GcpKmsDeps) {
  const key = parseCryptoKeyName(s.key);
  if (!key) {
    throw new BackendMisconfiguredError(
      `gcp.key ${JSON.stringify(s.key)} is not a CryptoKey name (projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>)`,
    );
  }
  const log = deps.log.child({ key: s.key });
  const auth = await googleAuth(s.credentialsFile);
  const endpoint = s.endpoint ? parseEndpoint(s.endpoint) : undefined;
  const ca = s.caFile ? Buffer.from(await readTrustedFile(s.caFile, 'Cloud KMS CA file')) : undefined;
  const client = new KeyManagementServiceClient({
    auth,
    ...(endpoint ? { apiEndpoint: endpoint.host, port: endpoint.port } : {}),
    ...(endpoint || ca ? { sslCreds: channelCredentials(auth, ca) } : {}),
    // kleidi's retries and deadlines (KmsApi), never the client's.
    fallback: false,
    // gRPC's reconnect backoff grows to 120 s by default
    // (https://github.com/grpc/grpc/blob/master/doc/connection-backoff.md); capped at 2 s so the
    // channel is back within seconds of Cloud KMS (or a private endpoint) being reachable again.
    'grpc.initial_reconnect_backoff_ms': 250,
    'grpc.max_reconnect_backoff_ms': 2_000,
  });
  return { api: new KmsApi(client, s.calls, log), key: key satisfies CryptoKeyRef, log };
}

/**
 * TLS with `ca` (or the system roots) plus the OAuth bearer token on every call: the same
 * channel credentials google-gax builds for cloudkms.googleapis.com (GrpcClient._getCredentials),
 * which it skips once `sslCreds` is given, with the endpoint's own CA.
 */
function channelCredentials(auth: GoogleAuth, ca: Buffer | undefined) {
  return grpc.credentials.combineChannelCredentials(
    grpc.credentials.createSsl(ca ?? null),
    grpc.credentials.createFromGoogleCredential({
      getRequestHeaders: async (url?: string) => {
        const client = await auth.getClient();
        const headers = await client.getRequestHeaders(url);
        const out: Record<string, string> = {};
        headers.forEach((value, name) => {
          out[name] = value;
        });
        return out;
      },
    }),
  );
}

function parseEndpoint(endpoint: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(endpoint);
  const port = Number(m?.[2]);
  if (!m?.[1] || !(port > 0 && port < 65_536)) {
    throw new BackendMisconfiguredError(`gcp.endpoint ${JSON.stringify(endpoint)} is not host:port`);
  }
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}
