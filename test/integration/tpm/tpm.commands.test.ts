import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TPM_CC, TPM_RH_OWNER } from '../../../src/adapters/outbound/tpm/tpm.constants.js';
import { TpmResponseError } from '../../../src/adapters/outbound/tpm/tpm.errors.js';
import { publicBlob } from '../../../src/adapters/outbound/tpm/tpm.public.js';
import { sealedDataTemplate, srkTemplate } from '../../../src/adapters/outbound/tpm/tpm.templates.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.fixture.js';
import { tpmNode, type TpmNode } from '../../support/tpm-node.js';

const NO_AUTH = Buffer.alloc(0);
// TPM_PT values, TPM 2.0 Library Part 2 §6.13: PT_FIXED = 0x100, PT_VAR = 0x200.
const TPM_PT_FAMILY_INDICATOR = 0x100;
const TPM_PT_LOCKOUT_COUNTER = 0x20e;

describe('the TPM command layer against swtpm', () => {
  let swtpm: Swtpm;
  let node: TpmNode;

  beforeAll(async () => {
    swtpm = await startSwtpm();
    node = tpmNode(swtpm);
  });
  afterAll(async () => {
    await node?.transport.close();
    await swtpm?.stop();
  });

  it('GetRandom and GetCapability answer', async () => {
    expect(await node.tpm.getRandom(16)).toHaveLength(16);
    const props = await node.tpm.getProperties(TPM_PT_FAMILY_INDICATOR, 1);
    expect(props.get(TPM_PT_FAMILY_INDICATOR)).toBe(0x322e3000); // "2.0\0"
    expect((await node.tpm.getProperties(TPM_PT_LOCKOUT_COUNTER, 1)).get(TPM_PT_LOCKOUT_COUNTER)).toBe(0);
  });

  it('CreatePrimary derives an SRK whose public area ReadPublic returns, and FlushContext removes it', async () => {
    const srk = await node.tpm.createPrimary(TPM_RH_OWNER, NO_AUTH, srkTemplate());
    expect(srk.public.type).toBe('rsa');
    expect(srk.public.type === 'rsa' && srk.public.unique).toHaveLength(256);
    const read = await node.tpm.readPublic(srk.handle);
    expect(publicBlob(read.public)).toEqual(publicBlob(srk.public));
    expect(read.name).toEqual(srk.name);
    expect(await node.tpm.getHandles()).toEqual([srk.handle]);
    await node.tpm.flushContext(srk.handle);
    expect(await node.tpm.getHandles()).toEqual([]);
  });

  it('derives the same SRK after swtpm is killed and restarted', async () => {
    const before = await node.tpm.withFlushed(
      await node.tpm.createPrimary(TPM_RH_OWNER, NO_AUTH, srkTemplate()),
      async (o) => o.name,
    );
    await swtpm.kill();
    await swtpm.restart();
    // The kill closed the connection; the transport reconnects (a command racing the close fails once, with a transport error).
    await node.tpm.getRandom(1).catch((e: Error) => expect(e.name).toBe('TpmTransportError'));
    const after = await node.tpm.withFlushed(
      await node.tpm.createPrimary(TPM_RH_OWNER, NO_AUTH, srkTemplate()),
      async (o) => o.name,
    );
    expect(after).toEqual(before);
  });

  it('Create, Load and Unseal a sealed object, flushing every handle', async () => {
    const kek = Buffer.alloc(32, 0x5a);
    const auth = Buffer.from('node auth value');
    await node.tpm.withFlushed(await node.tpm.createPrimary(TPM_RH_OWNER, NO_AUTH, srkTemplate()), async (srk) => {
      const blobs = await node.tpm.createSealed(
        srk.handle,
        NO_AUTH,
        sealedDataTemplate(Buffer.alloc(0), { hasAuthValue: true, imported: false }),
        auth,
        kek,
      );
      const out = await node.tpm.withFlushed(await node.tpm.load(srk.handle, NO_AUTH, blobs), (o) =>
        node.tpm.unseal(o.handle, auth),
      );
      expect(out).toEqual(kek);
    });
    expect(await node.tpm.getHandles()).toEqual([]);
  });

  it('runs concurrent callers one command at a time', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => node.tpm.getRandom(8)));
    expect(new Set(results.map((r) => r.toString('hex'))).size).toBe(20);
  });

  it('names TPM_RC_OBJECT_MEMORY when the object slots are full', async () => {
    const srk = await node.tpm.createPrimary(TPM_RH_OWNER, NO_AUTH, srkTemplate());
    const loaded = [srk.handle];
    try {
      const blobs = await node.tpm.createSealed(
        srk.handle,
        NO_AUTH,
        sealedDataTemplate(Buffer.alloc(0), { hasAuthValue: false, imported: false }),
        NO_AUTH,
        Buffer.alloc(32, 1),
      );
      let error: unknown;
      for (let i = 0; i < 8 && !error; i++) {
        try {
          loaded.push((await node.tpm.load(srk.handle, NO_AUTH, blobs)).handle);
        } catch (e) {
          error = e;
        }
      }
      expect(error).toBeInstanceOf(TpmResponseError);
      expect((error as TpmResponseError).message).toBe('TPM2_Load failed: TPM_RC_OBJECT_MEMORY (0x902)');
    } finally {
      for (const h of loaded) await node.tpm.flushContext(h);
    }
    expect(await node.tpm.getHandles()).toEqual([]);
  });
});

describe('a TPM that has not seen TPM2_Startup', () => {
  it('is started with TPM2_Startup(CLEAR) after TPM_RC_INITIALIZE, then answers', async () => {
    const swtpm = await startSwtpm({ startupClear: false });
    const node = tpmNode(swtpm);
    try {
      expect(await node.tpm.getRandom(4)).toHaveLength(4);
      expect(node.transport.sent).toEqual([TPM_CC.GetRandom, TPM_CC.Startup, TPM_CC.GetRandom]);
    } finally {
      await node.transport.close();
      await swtpm.stop();
    }
  });
});
