import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TpmCommands } from '#src/adapters/outbound/tpm/tpm.commands.js';
import { TPM_CC } from '#src/adapters/outbound/tpm/tpm.constants.js';
import { TpmKeyWrapper } from '#src/adapters/outbound/tpm/tpm.key-wrapper.js';
import { TpmPcrPolicyError } from '#src/adapters/outbound/tpm/tpm.kms-errors.js';
import { TpmNode } from '#src/adapters/outbound/tpm/tpm.node.js';
import { readNodeKeys } from '#src/adapters/outbound/tpm/tpm.node-file.js';
import { readAuthValue, type TpmSettings } from '#src/adapters/outbound/tpm/tpm.open.js';
import { TpmOperator } from '#src/adapters/outbound/tpm/tpm.operator.js';
import { parsePcrSelection, pcrPasswordPolicy, type PcrSelection } from '#src/adapters/outbound/tpm/tpm.pcr.js';
import { parsePublicBlob } from '#src/adapters/outbound/tpm/tpm.public.js';
import { SocketTransport } from '#src/adapters/outbound/tpm/tpm.socket-transport.js';
import { KeyUnusableError } from '#src/domain/model/errors.js';
import type { KeyWrapper } from '#src/ports/outbound/key-wrapper.port.js';
import { KeyStateTracker } from '#src/domain/services/key-state-tracker.js';
import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import { aDataKey, aSignal, recordingLogger } from '../../support/builders.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.fixture.js';
import { RecordingTransport } from '../../support/tpm-node.js';
import { openWrapper, tpmSettings } from '../../support/tpm.harness.js';

/**
 * PCR binding end to end on swtpm, through the settings and the offline
 * provisioning flow (ADR 0014): a node with `tpm.pcrs` enrolls with its PCR
 * values, the ring holder's bundle binds the objects to them, the node
 * serves. Then a "firmware update" (tpm2_pcrextend of PCR 7) and a restart:
 * the node comes up holding nothing, with a typed PCR policy error and
 * degraded health, and spends no dictionary-attack attempt; re-enrolling and
 * re-provisioning recovers it, old ciphertexts included.
 */
describe('PCR binding (tpm.pcrs) through enrollment, provisioning and serving', () => {
  let swtpm: Swtpm;
  let root: string;
  let node: TpmSettings;
  let holder: TpmSettings;
  const sel = parsePcrSelection('sha256:0,7') as PcrSelection;

  const lockoutCounter = async (): Promise<number> => {
    const out = await swtpm.tools('tpm2_getcap', ['properties-variable']);
    return Number(/TPM2_PT_LOCKOUT_COUNTER:\s*(?:raw:\s*)?(0x[0-9a-f]+|\d+)/i.exec(out)?.[1]);
  };
  const pcrValues = async (): Promise<string[]> => {
    await swtpm.tools('tpm2_pcrread', ['sha256:0,7', '-o', 'now.bin']);
    const b = await readFile(join(swtpm.dir, 'now.bin'));
    return [b.subarray(0, 32).toString('hex'), b.subarray(32, 64).toString('hex')];
  };
  /** Enroll on the node, provision on the ring holder, import on the node: the three steps of the runbook. */
  const provision = async (tag: string) => {
    const enrolled = await new TpmOperator(node).enroll();
    const enrollmentFile = join(root, `enrollment-${tag}.json`);
    await writeFile(enrollmentFile, JSON.stringify(enrolled.document), { mode: 0o600 });
    const bundleFile = join(root, `bundle-${tag}.json`);
    await new TpmOperator(holder).provision(enrollmentFile, bundleFile);
    const imported = await new TpmOperator(node).importBundle(bundleFile);
    return {
      enrollment: enrolled.document as { pcrs?: { selection: string; values: string[] } },
      bundleFile,
      imported,
    };
  };
  const health = async (w: KeyWrapper) =>
    new KeyStateTracker(w, systemClock, recordingLogger(), 60_000).refresh(aSignal());

  beforeAll(async () => {
    swtpm = await startSwtpm();
    root = await mkdtemp(join(tmpdir(), 'kleidi-tpm-pcr-'));
    await mkdir(join(root, 'node'), { mode: 0o700 });
    await mkdir(join(root, 'holder'), { mode: 0o700 });
    await writeFile(join(root, 'auth'), 'pcr-bound auth value\n', { mode: 0o600 });
    node = tpmSettings(swtpm, join(root, 'node'), { authFile: join(root, 'auth'), pcrs: 'sha256:0,7' });
    // The ring holder has no TPM of its own here and no tpm.pcrs: the enrollment decides the binding.
    holder = { ...tpmSettings(swtpm, join(root, 'holder'), { authFile: join(root, 'auth') }), tpm: '/dev/null/no-tpm' };
    await new TpmOperator(holder).addVersion();
    // Measured boot, as firmware would have done: non-zero PCR 0 and 7.
    await swtpm.tools('tpm2_pcrextend', [`0:sha256=${'10'.repeat(32)}`]);
    await swtpm.tools('tpm2_pcrextend', [`7:sha256=${'70'.repeat(32)}`]);
  });
  afterAll(async () => {
    await swtpm?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('binds, serves, refuses after a PCR change without a lockout attempt, and recovers once re-provisioned', async () => {
    // 1. Enrollment carries the node's PCR values; the bundle's objects carry the policy over them.
    const first = await provision('before');
    expect(first.enrollment.pcrs).toEqual({ selection: 'sha256:0,7', values: await pcrValues() });
    const bundle = JSON.parse(await readFile(first.bundleFile, 'utf8')) as {
      pcrs: string;
      versions: { public: string }[];
    };
    expect(bundle.pcrs).toBe('sha256:0,7');
    const policy = pcrPasswordPolicy(
      sel,
      (await pcrValues()).map((v) => Buffer.from(v, 'hex')),
    );
    const pub = parsePublicBlob(Buffer.from(bundle.versions[0]?.public as string, 'base64'));
    expect(pub.authPolicy).toEqual(policy);
    expect(pub.attributes & (1 << 6)).toBe(0); // userWithAuth clear: only the policy session authorises
    const keys = (await readNodeKeys(node.nodeKeyFile))?.keys;
    expect(keys?.versions.map((v) => v.pcrs)).toEqual([sel]);

    // 2. Serving: the KEK unseals through the policy session; every session and object flushed.
    let w = await openWrapper(node);
    const v1 = await w.currentVersion(aSignal());
    const seed = aDataKey();
    const wrapped = await w.wrap(seed, v1, aSignal());
    expect(await w.unwrap(wrapped, aSignal())).toEqual(seed);
    expect(await health(w)).toMatchObject({ healthy: true });
    await w.close();
    const probeTransport = new SocketTransport('127.0.0.1', swtpm.port);
    const probe = new TpmCommands(probeTransport);
    expect(await probe.getHandles()).toEqual([]);
    expect(await probe.getHandles(0x03)).toEqual([]); // no policy session left (TPM_HT_POLICY_SESSION)
    await probeTransport.close();

    // 3. A firmware update changes PCR 7; the node restarts.
    const lockoutBefore = await lockoutCounter();
    expect(Number.isInteger(lockoutBefore)).toBe(true);
    await swtpm.tools('tpm2_pcrextend', [`7:sha256=${'71'.repeat(32)}`]);
    const log = recordingLogger();
    // The node as openTpmWrapper builds it, its commands recorded.
    const recorder = new RecordingTransport(new SocketTransport('127.0.0.1', swtpm.port));
    const auth = await readAuthValue(node);
    w = await TpmKeyWrapper.open(node.nodeKeyFile, new TpmNode(new TpmCommands(recorder), auth, sel), log, () =>
      recorder.close(),
    ); // comes up, no crash, holding nothing
    // It asked through a policy session: StartAuthSession, PolicyPCR, PolicyPassword, then Unseal refused.
    expect(recorder.exchanges.filter((x) => x.rc !== 0).map((x) => x.command)).toEqual([TPM_CC.Unseal]);
    expect(recorder.sent).toEqual(
      expect.arrayContaining([TPM_CC.StartAuthSession, TPM_CC.PolicyPCR, TPM_CC.PolicyPassword, TPM_CC.Unseal]),
    );
    expect(log.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: expect.stringMatching(/PCR values changed since provisioning/),
      }),
    );
    const refused: unknown = await w.currentVersion(aSignal()).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TpmPcrPolicyError);
    expect(refused).toBeInstanceOf(KeyUnusableError);
    expect((refused as Error).message).toMatch(/^PCR values changed since provisioning \(TPM_RC_POLICY_FAIL/);
    const decrypt: unknown = await w.unwrap(wrapped, aSignal()).catch((e: unknown) => e);
    expect(decrypt).toBeInstanceOf(TpmPcrPolicyError);
    const degraded = await health(w);
    expect(degraded.healthy).toBe(false);
    expect(degraded.reason).toMatch(/^key-unusable: PCR values changed since provisioning/);
    // Refreshes and Decrypts do not ask the TPM again until the node key file changes, and the one
    // refusal counted nothing toward dictionary-attack lockout.
    const sentBefore = recorder.sent.length;
    for (let i = 0; i < 10; i++) {
      await w.currentVersion(aSignal()).catch(() => undefined);
      await w.unwrap(wrapped, aSignal()).catch(() => undefined);
    }
    expect(recorder.sent.length).toBe(sentBefore);
    expect(await lockoutCounter()).toBe(lockoutBefore);

    // 4. Runbook: re-enroll (new values), re-provision from the ring, import; the running node recovers.
    const second = await provision('after');
    expect(second.enrollment.pcrs?.values[1]).not.toBe(first.enrollment.pcrs?.values[1]);
    expect(second.imported.versions).toEqual([{ version: 1, keyId: v1.keyId, imported: true }]);
    expect(await w.currentVersion(aSignal())).toEqual(v1);
    expect(await w.unwrap(wrapped, aSignal())).toEqual(seed);
    expect(await health(w)).toMatchObject({ healthy: true });
    await w.close();

    // Importing the same binding again changes nothing.
    const again = await new TpmOperator(node).importBundle(second.bundleFile);
    expect(again.versions).toEqual([{ version: 1, keyId: v1.keyId, imported: false }]);
  });

  it('an enrollment edited to the predicted PCR values survives the planned update', async () => {
    const enrolled = (await new TpmOperator(node).enroll()).document as {
      pcrs: { selection: string; values: string[] };
    };
    // PCR extend (Part 1 §17.2): new = SHA-256(old || digest).
    const digest = Buffer.from('72'.repeat(32), 'hex');
    const predicted = createHash('sha256')
      .update(Buffer.from(enrolled.pcrs.values[1] as string, 'hex'))
      .update(digest)
      .digest('hex');
    const file = join(root, 'enrollment-predicted.json');
    await writeFile(
      file,
      JSON.stringify({ ...enrolled, pcrs: { ...enrolled.pcrs, values: [enrolled.pcrs.values[0], predicted] } }),
      { mode: 0o600 },
    );
    await new TpmOperator(holder).provision(file, join(root, 'bundle-predicted.json'));
    await new TpmOperator(node).importBundle(join(root, 'bundle-predicted.json'));
    await swtpm.tools('tpm2_pcrextend', [`7:sha256=${digest.toString('hex')}`]);
    const log = recordingLogger();
    const w = await openWrapper(node, log);
    expect(await health(w)).toMatchObject({ healthy: true });
    await w.close();
    expect(log.lines.filter((l) => l.level === 'warn')).toEqual([]); // bound as tpm.pcrs says: nothing to warn about
  });

  it('refuses an enrollment whose PCR values are malformed', async () => {
    const enrolled = (await new TpmOperator(node).enroll()).document as Record<string, unknown>;
    const file = join(root, 'enrollment-bad.json');
    await writeFile(file, JSON.stringify({ ...enrolled, pcrs: { selection: 'sha256:0,7', values: ['00'] } }), {
      mode: 0o600,
    });
    await expect(new TpmOperator(holder).provision(file, join(root, 'bundle-bad.json'))).rejects.toThrow(
      /pcrs must name a selection .* one SHA-256 value \(64 hex digits\) per PCR/,
    );
  });
  it('a node with tpm.pcrs serving versions that are not bound to it: served, with a warning naming the versions', async () => {
    const unbound = { ...node, pcrs: undefined, nodeKeyFile: join(root, 'node', 'unbound-keys.json') };
    const enrolled = await new TpmOperator(unbound).enroll();
    expect(enrolled.document).not.toHaveProperty('pcrs');
    const file = join(root, 'enrollment-unbound.json');
    await writeFile(file, JSON.stringify(enrolled.document), { mode: 0o600 });
    await new TpmOperator(holder).provision(file, join(root, 'bundle-unbound.json'));
    await new TpmOperator(unbound).importBundle(join(root, 'bundle-unbound.json'));
    const log = recordingLogger();
    const w = await openWrapper({ ...unbound, pcrs: 'sha256:0,7' }, log);
    expect(await health(w)).toMatchObject({ healthy: true });
    await w.close();
    expect(log.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        fields: { pcrs: 'sha256:0,7', versions: [1] },
        message: expect.stringMatching(/tpm\.pcrs is set but these KEK versions are not bound to it/),
      }),
    );
  });
});
