import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendMisconfiguredError, BackendUnavailableError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.fixture.js';
import { openAdmin, openWrapper, tpmSettings } from '../../support/tpm.harness.js';

/**
 * The tpm backend's adapter across three simulated nodes (one swtpm each):
 * `kleidi init` on the first node makes the ring, on the others (with the
 * ring file present) imports it; every node reports the same key_id and
 * decrypts what any node encrypted. Then the bad inputs of issue 16.
 */
describe('the tpm backend across three nodes', () => {
  const swtpms: Swtpm[] = [];
  let root: string;
  const dirs: string[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'kleidi-tpm-nodes-'));
    for (let i = 0; i < 3; i++) {
      swtpms.push(await startSwtpm());
      dirs.push(join(root, `node-${i}`));
      await mkdir(dirs[i] as string, { mode: 0o700 });
    }
    await writeFile(join(root, 'auth'), 'node auth value\n', { mode: 0o600 });
  });
  afterAll(async () => {
    for (const s of swtpms) await s.stop();
    await rm(root, { recursive: true, force: true });
  });

  const settings = (i: number, extra = {}) =>
    tpmSettings(swtpms[i] as Swtpm, dirs[i] as string, {
      ringFile: join(root, 'ring.json'),
      authFile: join(root, 'auth'),
      ...extra,
    });

  it("agree on key_ids, decrypt each other's ciphertexts, and follow a rotation once re-provisioned from the ring", async () => {
    const first = await (await openAdmin(settings(0))).init(aSignal());
    expect(first.created).toBe(true);
    expect(first.current.keyId).toMatch(/^tpm:v1:[0-9a-f]{16}$/);
    for (const i of [1, 2]) {
      const other = await (await openAdmin(settings(i))).init(aSignal());
      expect(other).toEqual({ created: false, current: first.current });
    }
    const wrappers = await Promise.all([0, 1, 2].map((i) => openWrapper(settings(i))));
    const seed = aDataKey();
    const wrapped = await (wrappers[0] as (typeof wrappers)[0]).wrap(seed, first.current, aSignal());
    for (const w of wrappers) {
      expect(await w.currentVersion(aSignal())).toEqual(first.current);
      expect(await w.unwrap(wrapped, aSignal())).toEqual(seed);
    }
    // Rotation on node 0 (where the ring is); the other nodes are re-provisioned from the ring (init on a fresh key file).
    const v2 = await (await openAdmin(settings(0))).rotate(aSignal());
    expect((await (wrappers[0] as (typeof wrappers)[0]).currentVersion(aSignal())).keyId).toBe(v2.keyId);
    for (const i of [1, 2]) {
      await rm(join(dirs[i] as string, 'node-keys.json'));
      expect((await (await openAdmin(settings(i))).init(aSignal())).current).toEqual(v2);
      expect((await (wrappers[i] as (typeof wrappers)[0]).currentVersion(aSignal())).keyId).toBe(v2.keyId);
      expect(await (wrappers[i] as (typeof wrappers)[0]).unwrap(wrapped, aSignal())).toEqual(seed);
    }
    for (const w of wrappers) await w.close();
  });

  it('a node key file copied to another node is refused by SRK name, before anything is loaded', async () => {
    const elsewhere = join(root, 'copied');
    await mkdir(elsewhere, { mode: 0o700 });
    await copyFile(join(dirs[0] as string, 'node-keys.json'), join(elsewhere, 'node-keys.json'));
    const error = await openWrapper(settings(1, { nodeKeyFile: join(elsewhere, 'node-keys.json') })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BackendMisconfiguredError);
    expect((error as Error).message).toMatch(
      /was made for the TPM whose SRK name is 000b[0-9a-f]{64}, but this TPM's is 000b[0-9a-f]{64}: provision this node/,
    );
  });

  it('a corrupt node key file is refused with a clear error, and the node still serves with the good one', async () => {
    const node = join(dirs[2] as string, 'node-keys.json');
    const good = await readFile(node, 'utf8');
    const parsed = JSON.parse(good) as { versions: { private: string }[] };
    const priv = Buffer.from((parsed.versions[0] as { private: string }).private, 'base64');
    priv[priv.length - 1] = (priv[priv.length - 1] as number) ^ 1;
    (parsed.versions[0] as { private: string }).private = priv.toString('base64');
    const bad = join(root, 'corrupt-node-keys.json');
    await writeFile(bad, JSON.stringify(parsed), { mode: 0o600 });
    const error = await openWrapper(settings(2, { nodeKeyFile: bad })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendMisconfiguredError);
    expect((error as Error).message).toMatch(
      /TPM2_Load failed: TPM_RC_INTEGRITY .*corrupt or was made for another TPM/,
    );
    await writeFile(bad, '{"format": "kleidi-tpm-node/1"', { mode: 0o600 });
    await expect(openWrapper(settings(2, { nodeKeyFile: bad }))).rejects.toThrow(/is not valid JSON/);
    const w = await openWrapper(settings(2));
    expect((await w.currentVersion(aSignal())).keyId).toMatch(/^tpm:v2:/);
    await w.close();
  });

  it('a wrong auth value fails the start once, is not retried, and says why', async () => {
    await writeFile(join(root, 'wrong-auth'), 'not the auth value', { mode: 0o600 });
    const error = await openWrapper(settings(1, { authFile: join(root, 'wrong-auth') })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendMisconfiguredError);
    expect((error as Error).message).toMatch(
      /TPM2_Unseal failed: TPM_RC_AUTH_FAIL \(session 1, 0x98e\).*does not retry/,
    );
    // The right value still works: one failure does not lock the TPM out.
    const w = await openWrapper(settings(1));
    await w.close();
  });

  it('an auth value longer than 32 bytes is refused before any TPM command', async () => {
    await writeFile(join(root, 'long-auth'), `${'a'.repeat(33)}\n`, { mode: 0o600 });
    const error = await openAdmin(settings(1, { authFile: join(root, 'long-auth') })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendMisconfiguredError);
    expect((error as Error).message).toMatch(/is 33 bytes; a TPM accepts at most 32/);
  });

  it('a TPM that is down fails the start as unavailable', async () => {
    const s = swtpms[1] as Swtpm;
    await s.kill();
    try {
      await expect(openWrapper(settings(1))).rejects.toBeInstanceOf(BackendUnavailableError);
    } finally {
      await s.restart();
    }
  });
});
