import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TpmCommands } from '#src/adapters/outbound/tpm/tpm.commands.js';
import { tpmKeyId } from '#src/adapters/outbound/tpm/tpm.key-id.js';
import { readNodeKeys, writeNodeKeys } from '#src/adapters/outbound/tpm/tpm.node-file.js';
import { TpmNode } from '#src/adapters/outbound/tpm/tpm.node.js';
import { SocketTransport } from '#src/adapters/outbound/tpm/tpm.socket-transport.js';
import { BackendUnavailableError } from '#src/domain/model/errors.js';
import { aSignal } from '../../support/builders.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.fixture.js';
import { openAdmin, openWrapper, tpmSettings } from '../../support/tpm.harness.js';

/** TPM2_PT_LOCKOUT_COUNTER (TPM 2.0 Library Part 2, 6.13: TPM_PT_VAR + 14) as tpm2_getcap prints it. */
async function lockoutCounter(swtpm: Swtpm): Promise<number> {
  const out = await swtpm.tools('tpm2_getcap', ['properties-variable']);
  const m = /TPM2_PT_LOCKOUT_COUNTER:\s*(?:raw:\s*)?(0x[0-9a-f]+|\d+)/i.exec(out);
  if (!m?.[1]) throw new Error(`no TPM2_PT_LOCKOUT_COUNTER in tpm2_getcap output:\n${out}`);
  return Number(m[1]);
}

/**
 * A serving node whose key file gains a version sealed under another auth value (a bundle made
 * with the wrong auth file): the reload is refused once, and not tried again while the file is
 * unchanged, however often the refresh asks; each try would count toward dictionary-attack lockout.
 */
describe('a reload refused for a wrong auth value', () => {
  let swtpm: Swtpm;
  let dir: string;
  beforeAll(async () => {
    swtpm = await startSwtpm();
    dir = await mkdtemp(join(tmpdir(), 'kleidi-tpm-reload-auth-'));
    await writeFile(join(dir, 'auth'), 'the auth value\n', { mode: 0o600 });
  });
  afterAll(async () => {
    await swtpm?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('costs one failed authorisation, keeps serving, and loads the file once it is fixed', async () => {
    const s = tpmSettings(swtpm, dir, { authFile: join(dir, 'auth') });
    const admin = await openAdmin(s);
    const v1 = (await admin.init(aSignal())).current;
    await admin.close();
    const w = await openWrapper(s);
    const held = await readNodeKeys(s.nodeKeyFile);
    const keys = held?.keys as NonNullable<typeof held>['keys'];
    // Version 2 sealed under another auth value, as a bundle made with the wrong auth file would be.
    const kek = Buffer.alloc(32, 7);
    const addVersion = async (auth: string) => {
      const transport = new SocketTransport('127.0.0.1', swtpm.port);
      const node = new TpmNode(new TpmCommands(transport), Buffer.from(auth));
      const srk = await node.srk();
      const blob = await node.importKek(srk.public, kek);
      await transport.close();
      await writeNodeKeys(s.nodeKeyFile, {
        ...keys,
        current: 2,
        versions: [...keys.versions, { version: 2, keyId: tpmKeyId(2, kek), ...blob }],
      });
    };
    await addVersion('another auth value');

    const before = await lockoutCounter(swtpm);
    for (let i = 0; i < 4; i++) {
      const error = await w.currentVersion(aSignal()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect((error as Error).message).toMatch(
        /^TPM node key file changed, not reloaded: TPM2_Unseal failed: TPM_RC_AUTH_FAIL.*auth value \(tpm\.authFile\) is wrong/,
      );
    }
    // A Decrypt for the new key_id does not try again either; the held version still serves.
    const seed = new Uint8Array(32).fill(1);
    const wrapped = await w.wrap(seed, v1, aSignal());
    await expect(w.unwrap({ ...wrapped, keyId: tpmKeyId(2, kek) }, aSignal())).rejects.toThrow(
      /is not in this node's TPM key file/,
    );
    expect(await lockoutCounter(swtpm)).toBe(before + 1);
    expect(await w.unwrap(wrapped, aSignal())).toEqual(seed);

    // The file fixed (version 2 sealed under the right auth value): loaded at the next ask.
    await addVersion('the auth value');
    expect(await w.currentVersion(aSignal())).toEqual({ keyId: tpmKeyId(2, kek), version: 2 });
    expect(await lockoutCounter(swtpm)).toBe(before + 1);
    await w.close();
  });
});
