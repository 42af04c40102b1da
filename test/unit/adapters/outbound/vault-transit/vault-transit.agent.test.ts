import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAgent } from '#src/adapters/outbound/vault-transit/vault-transit.agent.js';
import { readPlainFile } from '#src/adapters/outbound/vault-transit/vault-transit.files.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';

/**
 * Whoever can write the CA bundle can make kleidi trust another server and
 * send it the Vault token and the seeds; whoever can write the role_id or the
 * JWT file can make it log in as another identity.
 */
describe('Vault trust anchors are refused when another user could have written them', () => {
  const https = new URL('https://vault.example:8200');
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-vault-ca-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const put = async (name: string, content: string, mode: number) => {
    const path = join(dir, name);
    await writeFile(path, content, { mode });
    await chmod(path, mode);
    return path;
  };

  it('a CA file writable by group or others', async () => {
    const caFile = await put('ca.pem', 'not parsed before the check', 0o666);
    await expect(buildAgent(https, { caFile })).rejects.toThrow(
      `Vault CA file ${caFile} has mode 0666; it must not be writable by group or others`,
    );
  });

  it('a CA file or client certificate owned by another user (run as root)', async () => {
    if (process.geteuid?.() !== 0) throw new Error('this test chowns files to uid 65534: run it as root');
    const caFile = await put('ca.pem', 'x', 0o644);
    await chown(caFile, 65534, 65534);
    await expect(buildAgent(https, { caFile })).rejects.toBeInstanceOf(BackendMisconfiguredError);
    const clientCertFile = await put('client.pem', 'x', 0o644);
    const clientKeyFile = await put('client.key', 'x', 0o600);
    await chown(clientCertFile, 65534, 65534);
    await expect(buildAgent(https, { clientCertFile, clientKeyFile })).rejects.toThrow(
      `Vault client certificate ${clientCertFile} is owned by uid 65534`,
    );
  });

  it('a role_id or JWT file writable by others; a 0644 one is read', async () => {
    const roleId = await put('role-id', 'role-1\n', 0o646);
    await expect(readPlainFile(roleId, 'AppRole role_id')).rejects.toThrow('must not be writable by group or others');
    await chmod(roleId, 0o644);
    expect(await readPlainFile(roleId, 'AppRole role_id')).toBe('role-1');
  });
});
