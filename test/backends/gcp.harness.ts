import { join } from 'node:path';
import { GCP_KEY_RING, type GcpKms, startGcpKms } from '../support/gcp-kms.fixture.js';
import { type BenchComparison, kleidiInit, run, type StartOptions, type TestServer } from './harness.js';

/**
 * The test server is TypeScript in this process (test/support/gcp-kms.fixture.ts); it needs
 * only the openssl CLI, for its test CA and certificate.
 */
export async function prepare(): Promise<void> {
  await run('openssl', ['version']);
}

/** The CryptoKey kleidi is pointed at; `kleidi init` creates it in the fixture's key ring. */
const KEY = `${GCP_KEY_RING}/cryptoKeys/kleidi`;

/**
 * A fresh Cloud KMS test server (google.cloud.kms.v1.KeyManagementService over TLS with a test
 * CA, on a free loopback port) with the key created by `kleidi init`. kleidi authenticates with
 * a service-account key file the server made and trusts; GOOGLE_APPLICATION_CREDENTIALS points
 * nowhere so nothing of the developer's own Google setup is read. Never a production setup.
 */
export async function start(dir: string, opts: StartOptions = {}): Promise<TestServer> {
  const kms = await startGcpKms();
  const env = kleidiEnv(kms, dir);
  try {
    await kleidiInit('gcp', join(dir, 'init-state'), env, opts);
  } catch (err) {
    await kms.stop();
    throw err;
  }
  return { env, version: 'kleidi Cloud KMS test server (google.cloud.kms.v1)', stop: () => kms.stop() };
}

/** What points kleidi at a test server at `endpoint` (or a proxy in front of it). */
export function kleidiEnv(kms: Pick<GcpKms, 'caFile' | 'credentialsFile'>, dir: string, endpoint?: string) {
  return {
    KLEIDI_GCP_KEY: KEY,
    KLEIDI_GCP_ENDPOINT: endpoint ?? (kms as GcpKms).endpoint,
    KLEIDI_GCP_CA_FILE: kms.caFile,
    KLEIDI_GCP_CREDENTIALS_FILE: kms.credentialsFile,
    GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'no-google-credentials.json'),
    // No GCE metadata server probe from google-auth-library.
    METADATA_SERVER_DETECTION: 'none',
  };
}

/**
 * The same Encrypt and Decrypt requests kleidi sends (the named primary version, the envelope
 * header as AAD, CRC32Cs sent and checked), made directly with @google-cloud/kms against the
 * same server: kleidi(gcp) ÷ this is what kleidi's whole path costs on top of the client and
 * the server.
 */
export const bench: BenchComparison = {
  baseline: {
    label: 'raw-gcp-client',
    raw: 'bench/raw/gcp.mjs',
    args: (env) => [
      ...['--endpoint', env.KLEIDI_GCP_ENDPOINT ?? ''],
      ...['--ca-file', env.KLEIDI_GCP_CA_FILE ?? ''],
      ...['--credentials-file', env.KLEIDI_GCP_CREDENTIALS_FILE ?? ''],
      ...['--key', env.KLEIDI_GCP_KEY ?? KEY],
    ],
  },
};
