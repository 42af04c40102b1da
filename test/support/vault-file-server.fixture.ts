import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  launch,
  requireVaultBinary,
  serverAt,
  stopProcess,
  vaultApi,
  waitHealthy,
  type VaultServer,
} from './vault-server.fixture.js';

/**
 * A production-mode Vault: file storage, one unseal key, plain HTTP on a fixed
 * loopback port, so it can be stopped, started again (sealed) and unsealed
 * while a client keeps its address.
 */
export interface FileVault extends VaultServer {
  seal(): Promise<void>;
  unseal(): Promise<void>;
  /** Stops the process; data stays. */
  kill(): Promise<void>;
  /** Starts the process again; it comes up sealed. */
  restart(): Promise<void>;
}

export async function startFileVault(): Promise<FileVault> {
  const bin = requireVaultBinary();
  const dir = await mkdtemp(join(tmpdir(), 'kleidi-vault-file-'));
  const port = await freePort();
  const address = `http://127.0.0.1:${port}`;
  const config = join(dir, 'vault.hcl');
  await writeFile(
    config,
    [
      `storage "file" { path = "${join(dir, 'data')}" }`,
      `listener "tcp" {\n  address = "127.0.0.1:${port}"\n  tls_disable = true\n}`,
      `api_addr = "${address}"`,
      'disable_mlock = true',
      'ui = false',
    ].join('\n'),
  );
  let proc: ChildProcess = launch(bin, ['server', `-config=${config}`], dir);
  const probe = serverAt(address, '', dir, undefined, proc);
  await waitHealthy(probe, proc, true);

  const init = await vaultApi(address, undefined, 'PUT', 'sys/init', { secret_shares: 1, secret_threshold: 1 });
  const unsealKey = (init.keys_base64 as string[])[0] ?? '';
  const rootToken = init.root_token as string;
  const base = serverAt(address, rootToken, dir, undefined);

  const unseal = async () => {
    await vaultApi(address, undefined, 'PUT', 'sys/unseal', { key: unsealKey });
    await waitHealthy(base, proc);
  };
  await unseal();
  return {
    ...base,
    unseal,
    seal: async () => void (await base.api('PUT', 'sys/seal')),
    kill: () => stopProcess(proc),
    restart: async () => {
      proc = launch(bin, ['server', `-config=${config}`], dir);
      await waitHealthy(base, proc, true);
    },
    stop: async () => {
      await stopProcess(proc);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
