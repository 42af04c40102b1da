import { requireVaultBinary, secretFile, setUpTransit, startDevVault } from '../support/vault-server.fixture.js';
import { type BenchComparison, run, type TestServer } from './harness.js';

/** Builds the Vault test server from Go modules (test/vault-server) unless a current build exists. */
export async function prepare(): Promise<void> {
  await run('bash', ['scripts/setup-vault-server.sh']);
}

/**
 * A dev-mode Vault server (in memory, unsealed, plain HTTP on a free loopback port) with
 * transit mounted and the aes256-gcm96 key `kleidi`; kleidi logs in with the root token from a
 * 0600 file. Never a production setup.
 */
export async function start(_dir: string): Promise<TestServer> {
  const version = (await run(requireVaultBinary(), ['version'])).trim().split('\n')[0];
  const server = await startDevVault();
  try {
    await setUpTransit(server, 'transit', 'kleidi');
    const tokenFile = await secretFile(server.dir, 'token', server.rootToken);
    return {
      env: { KLEIDI_VAULT_ADDRESS: server.address, KLEIDI_VAULT_TOKEN_FILE: tokenFile },
      ...(version ? { version } : {}),
      stop: () => server.stop(),
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** The same transit calls over plain HTTP, and through node-vault (axios), the library the adapter uses. */
const raw = (label: string, extra: string[] = []) => ({
  label,
  raw: 'bench/raw/vault.mjs',
  args: (env: Readonly<Record<string, string>>) => [
    ...['--address', env.KLEIDI_VAULT_ADDRESS ?? ''],
    ...['--token-file', env.KLEIDI_VAULT_TOKEN_FILE ?? ''],
    ...['--mount', 'transit', '--key', 'kleidi'],
    ...extra,
  ],
});
export const bench: BenchComparison = {
  baseline: raw('raw-vault'),
  references: [raw('raw-vault-node-vault', ['--client', 'node-vault'])],
};
