import { lstat, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNodeKeys } from '#src/adapters/outbound/tpm/tpm.node-file.js';
import { KeyVersionUnknownError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.fixture.js';
import { openAdmin, openWrapper, tpmSettings } from '../../support/tpm.harness.js';

/**
 * Two-phase rotation and retire on a real swtpm (ADR 0021): what lands in the node key file,
 * which every kleidi reads the same way, and what the retire backup is good for.
 */
describe('tpm two-phase rotation and retire, in the node key file', () => {
  let swtpm: Swtpm;
  let dir: string;
  beforeAll(async () => {
    swtpm = await startSwtpm();
    dir = await mkdtemp(join(tmpdir(), 'kleidi-tpm-lifecycle-'));
  });
  afterAll(async () => {
    await swtpm?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stages as a version above `current` in an unchanged file format, which older kleidis read the same way', async () => {
    const s = tpmSettings(swtpm, join(dir, 'stage'));
    const admin = await openAdmin(s);
    const { current: v1 } = await admin.init(aSignal());
    const staged = await admin.stage(aSignal());
    const doc = JSON.parse(await readFile(s.nodeKeyFile, 'utf8')) as { format: string; current: number };
    // The format kleidi has always written, whose `current` every release honours (the `--current` of provisioning).
    expect(doc).toMatchObject({ format: 'kleidi-tpm-node/1', current: v1.version });
    expect((await readNodeKeys(s.nodeKeyFile))?.keys.versions.map((v) => v.version)).toEqual([1, 2]);
    await admin.promote(staged.version, aSignal());
    expect((await readNodeKeys(s.nodeKeyFile))?.keys.current).toBe(staged.version);
    await admin.close();
  });

  it('retires after a 0600 backup of the node key file, which undoes the retire on this node only', async () => {
    const s = tpmSettings(swtpm, join(dir, 'retire'));
    const admin = await openAdmin(s);
    await admin.init(aSignal());
    const w = await openWrapper(s);
    const seed = aDataKey();
    const old = await w.wrap(seed, await w.currentVersion(aSignal()), aSignal());
    await admin.rotate(aSignal());
    const before = await readFile(s.nodeKeyFile, 'utf8');

    const retired = await admin.retire(1, aSignal());
    expect(retired.action).toBe("removed from this node's TPM key file");
    const backup = retired.backup as string;
    expect(backup).toMatch(/node-keys\.json\.retire-v1-\d{8}T\d{6}Z\.bak$/);
    expect(JSON.parse(await readFile(backup, 'utf8'))).toEqual(JSON.parse(before));
    expect((await lstat(backup)).mode & 0o777).toBe(0o600);
    expect((await readNodeKeys(s.nodeKeyFile))?.keys.versions.map((v) => v.version)).toEqual([2]);

    // The serving wrapper forgets the version at its next refresh.
    await w.currentVersion(aSignal());
    await expect(w.unwrap(old, aSignal())).rejects.toBeInstanceOf(KeyVersionUnknownError);

    // Put back on the same node (same TPM, SRK and auth value), the backup serves the version again.
    await rename(backup, s.nodeKeyFile);
    await w.currentVersion(aSignal());
    expect(await w.unwrap(old, aSignal())).toEqual(seed);
    await w.close();
    await admin.close();
  });
});
