import { credentialFile } from '../support/delinea.harness-support.js';
import { type FakeSecretServer, startFakeSecretServer } from '../support/fake-delinea.js';
import { kleidiInit, run, type StartOptions, type TestServer } from './harness.js';

/** The test server is in-process TypeScript; its certificate authority needs the openssl CLI. */
export async function prepare(): Promise<void> {
  await run('openssl', ['version']);
}

/**
 * A fresh fake Secret Server (test/support/fake-delinea.ts, HTTPS on loopback with a CA made
 * now) holding one secret with an empty notes field, and the first KEK ring written into it
 * by `kleidi init` (kek-source mode). kleidi logs in as the fake's application account with a
 * password file in `dir`. Never a production setup.
 */
export async function start(dir: string, opts: StartOptions = {}): Promise<TestServer> {
  const server = await startFakeSecretServer({ dir });
  const env = kleidiEnv(server, credentialFile(dir, server.password), server.createSecret('kleidi-kek'));
  try {
    await kleidiInit('delinea', `${dir}/init-state`, env, opts);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { env, version: 'fake Secret Server (test/support/fake-delinea.ts)', stop: () => server.stop() };
}

/** The `delinea` settings that point kleidi at `server`'s secret `secretId` (kek-source mode). */
export function kleidiEnv(
  server: Pick<FakeSecretServer, 'url' | 'caFile' | 'username'>,
  credential: string,
  secretId: number,
): Record<string, string> {
  return {
    KLEIDI_DELINEA_MODE: 'kek-source',
    KLEIDI_DELINEA_URL: server.url,
    KLEIDI_DELINEA_CA_FILE: server.caFile,
    KLEIDI_DELINEA_USERNAME: server.username,
    KLEIDI_DELINEA_CREDENTIAL_FILE: credential,
    KLEIDI_DELINEA_SECRET_ID: String(secretId),
  };
}
