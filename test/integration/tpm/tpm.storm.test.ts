import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TpmCommands } from '#src/adapters/outbound/tpm/tpm.commands.js';
import { TpmKeyWrapper } from '#src/adapters/outbound/tpm/tpm.key-wrapper.js';
import { TpmNode } from '#src/adapters/outbound/tpm/tpm.node.js';
import { SocketTransport } from '#src/adapters/outbound/tpm/tpm.socket-transport.js';
import type { WrappedKey } from '#src/domain/model/key-version.js';
import { aDataKey, aSignal, recordingLogger } from '../../support/builders.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.fixture.js';
import { RecordingTransport } from '../../support/tpm-node.js';
import { openAdmin, tpmSettings } from '../../support/tpm.harness.js';

/**
 * ADR 0014's latency decision: the TPM is used at start (and when the node
 * key file changes), never per Decrypt, so a kube-apiserver cold start that
 * asks for 1,000 Decrypts at once costs no TPM command at all.
 */
describe('a 1,000-Decrypt cold-start storm', () => {
  let swtpm: Swtpm;
  let dir: string;

  beforeAll(async () => {
    swtpm = await startSwtpm();
    dir = await mkdtemp(join(tmpdir(), 'kleidi-tpm-storm-'));
  });
  afterAll(async () => {
    await swtpm?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('is served from memory: the TPM sees only the start-up commands', async () => {
    const settings = tpmSettings(swtpm, dir);
    const admin = await openAdmin(settings);
    await admin.init(aSignal());
    await admin.rotate(aSignal());
    await admin.close();

    const transport = new RecordingTransport(new SocketTransport('127.0.0.1', swtpm.port));
    const started = performance.now();
    const wrapper = await TpmKeyWrapper.open(
      settings.nodeKeyFile,
      new TpmNode(new TpmCommands(transport), Buffer.alloc(0)),
      recordingLogger(),
      () => transport.close(),
    );
    const startMs = performance.now() - started;
    // CreatePrimary, then Load + Unseal + FlushContext per version (2), then FlushContext of the SRK.
    const atStart = transport.sent.length;
    expect(atStart).toBe(1 + 2 * 3 + 1);

    const version = await wrapper.currentVersion(aSignal());
    const wrapped: WrappedKey[] = await Promise.all(
      Array.from({ length: 1000 }, () => wrapper.wrap(aDataKey(), version, aSignal())),
    );
    const stormStarted = performance.now();
    const seeds = await Promise.all(wrapped.map((w) => wrapper.unwrap(w, aSignal())));
    const stormMs = performance.now() - stormStarted;
    expect(seeds).toHaveLength(1000);
    expect(transport.sent.length).toBe(atStart);
    console.log(
      `tpm storm: start (unseal 2 versions on swtpm) ${startMs.toFixed(1)} ms; 1,000 concurrent unwraps ${stormMs.toFixed(1)} ms, 0 TPM commands`,
    );
    await wrapper.close();
  });
});
