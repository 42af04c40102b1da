import { credentialFile } from '../support/delinea.harness-support.js';
import { type FakeDsv, startFakeDsv } from '../support/fake-delinea-dsv.js';
import { type FakeSecretServer, startFakeSecretServer } from '../support/fake-delinea.js';
import { type BenchComparison, kleidiInit, run, type StartOptions, type TestServer } from './harness.js';

/** The test server is in-process TypeScript; its certificate authority needs the openssl CLI. */
export async function prepare(): Promise<void> {
  await run('openssl', ['version']);
}

/**
 * The mode the runners test: kek-source by default; `DELINEA_TEST_MODE=remote` (read here, in the
 * runner's process, never passed to kleidi) runs the same conformance scenarios on remote mode.
 */
function testMode(): 'kek-source' | 'remote' {
  return process.env.DELINEA_TEST_MODE === 'remote' ? 'remote' : 'kek-source';
}

/**
 * A fresh fake Secret Server (test/support/fake-delinea.ts, HTTPS on loopback with a CA made
 * now) holding one secret with an empty notes field, and the first KEK ring written into it
 * by `kleidi init` (kek-source mode). kleidi logs in as the fake's application account with a
 * password file in `dir`. Never a production setup.
 */
export async function start(dir: string, opts: StartOptions = {}): Promise<TestServer> {
  if (testMode() === 'remote') return startRemote(dir, opts);
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

/** A fresh fake DSV tenant and the key `kleidi init` creates in it (remote mode). */
async function startRemote(dir: string, opts: StartOptions): Promise<TestServer> {
  const dsv = await startFakeDsv({ dir });
  const env = remoteEnv(dsv, credentialFile(dir, dsv.clientSecret), 'kleidi/conformance');
  try {
    await kleidiInit('delinea', `${dir}/init-state`, env, opts);
  } catch (err) {
    await dsv.stop();
    throw err;
  }
  return { env, version: 'fake DSV (test/support/fake-delinea-dsv.ts)', stop: () => dsv.stop() };
}

/** The `delinea` settings that point kleidi at the DSV key `keyPath` of `dsv` (remote mode). */
export function remoteEnv(
  dsv: Pick<FakeDsv, 'url' | 'caFile' | 'clientId'>,
  credential: string,
  keyPath: string,
): Record<string, string> {
  return {
    KLEIDI_DELINEA_MODE: 'remote',
    KLEIDI_DELINEA_URL: dsv.url,
    KLEIDI_DELINEA_CA_FILE: dsv.caFile,
    KLEIDI_DELINEA_GRANT: 'client_credentials',
    KLEIDI_DELINEA_USERNAME: dsv.clientId,
    KLEIDI_DELINEA_CREDENTIAL_FILE: credential,
    KLEIDI_DELINEA_KEY_PATH: keyPath,
  };
}

/**
 * The requests kleidi's delinea backend makes, made directly against the same fake
 * (bench/raw/delinea.mjs): in kek-source mode one ring read and then AES-256-GCM in process, the
 * envelope header as associated data; in remote mode (`DELINEA_TEST_MODE=remote`) DSV's
 * encrypt and decrypt over node:https with keep-alive. kleidi(delinea) ÷ this is what kleidi's
 * whole path costs on top of the server (or the in-process cipher).
 */
export const bench: BenchComparison = {
  baseline: {
    label: 'raw-delinea',
    raw: 'bench/raw/delinea.mjs',
    args: (env) => [
      ...['--mode', env.KLEIDI_DELINEA_MODE ?? 'kek-source'],
      ...['--url', env.KLEIDI_DELINEA_URL ?? ''],
      ...['--ca-file', env.KLEIDI_DELINEA_CA_FILE ?? ''],
      ...['--username', env.KLEIDI_DELINEA_USERNAME ?? ''],
      ...['--credential-file', env.KLEIDI_DELINEA_CREDENTIAL_FILE ?? ''],
      ...(env.KLEIDI_DELINEA_MODE === 'remote'
        ? ['--key-path', env.KLEIDI_DELINEA_KEY_PATH ?? '']
        : ['--secret-id', env.KLEIDI_DELINEA_SECRET_ID ?? '']),
    ],
  },
};
