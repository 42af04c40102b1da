import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TpmReader, TpmWriter } from '../../../src/adapters/outbound/tpm/tpm.buffer.js';
import { TPM_RH_OWNER } from '../../../src/adapters/outbound/tpm/tpm.constants.js';
import { wrapSealedDataForImport } from '../../../src/adapters/outbound/tpm/tpm.duplicate.js';
import { parsePublicBlob, publicBlob } from '../../../src/adapters/outbound/tpm/tpm.public.js';
import { sealedDataTemplate, srkTemplate } from '../../../src/adapters/outbound/tpm/tpm.templates.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.fixture.js';
import { tpmNode, type TpmNode } from '../../support/tpm-node.js';

/**
 * kleidi's TPM command layer against tpm2-tools 5.4 on the same swtpm: each
 * reads what the other writes. tpm2-tools' .pub/.priv files are plain
 * TPM2B_PUBLIC/TPM2B_PRIVATE. swtpm serves one client at a time, so kleidi's
 * connection is closed before each tool runs, and the tools' transient
 * handles are flushed after them (there is no resource manager on the socket).
 */
const NO_AUTH = Buffer.alloc(0);
const AUTH = 'cross-check auth';
// The same template as srkTemplate(): tpm2-tools' rsa2048:aes128cfb storage key with noDA added.
const SRK_ARGS = [
  '-C',
  'o',
  '-g',
  'sha256',
  '-G',
  'rsa2048:aes128cfb',
  '-a',
  'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt',
  '-c',
  'srk.ctx',
  '-Q',
];

describe('cross-checks with tpm2-tools', () => {
  let swtpm: Swtpm;
  let node: TpmNode;

  const tools = async (cmd: string, args: string[]): Promise<string> => {
    await node.transport.close();
    try {
      return await swtpm.tools(cmd, args);
    } finally {
      await swtpm.tools('tpm2_flushcontext', ['-t']);
    }
  };
  const tpm2b = (b: Buffer): Buffer => new TpmWriter().tpm2b(b).done();
  const fromTpm2b = (b: Buffer): Buffer => {
    const r = new TpmReader(b, 'TPM2B file');
    const v = r.tpm2b();
    r.end();
    return v;
  };

  beforeAll(async () => {
    swtpm = await startSwtpm();
    node = tpmNode(swtpm);
    await tools('tpm2_createprimary', SRK_ARGS);
  });
  afterAll(async () => {
    await node?.transport.close();
    await swtpm?.stop();
  });

  it('tpm2_createprimary makes the SRK kleidi makes', async () => {
    await tools('tpm2_readpublic', ['-c', 'srk.ctx', '-o', 'srk.pub', '-Q']);
    const theirs = await readFile(join(swtpm.dir, 'srk.pub'));
    const ours = await node.tpm.withFlushed(
      await node.tpm.createPrimary(TPM_RH_OWNER, NO_AUTH, srkTemplate()),
      async (o) => publicBlob(o.public),
    );
    expect(ours).toEqual(theirs);
  });

  it('kleidi unseals an object sealed by tpm2_create', async () => {
    const kek = Buffer.alloc(32, 0x33);
    await writeFile(join(swtpm.dir, 'kek.bin'), kek);
    await tools('tpm2_create', [
      '-C',
      'srk.ctx',
      '-i',
      'kek.bin',
      '-u',
      'seal.pub',
      '-r',
      'seal.priv',
      '-a',
      'fixedtpm|fixedparent|userwithauth',
      '-p',
      `str:${AUTH}`,
      '-Q',
    ]);
    const pub = parsePublicBlob(await readFile(join(swtpm.dir, 'seal.pub')));
    const priv = fromTpm2b(await readFile(join(swtpm.dir, 'seal.priv')));
    const out = await node.tpm.withFlushed(
      await node.tpm.createPrimary(TPM_RH_OWNER, NO_AUTH, srkTemplate()),
      async (srk) =>
        node.tpm.withFlushed(await node.tpm.load(srk.handle, NO_AUTH, { public: pub, private: priv }), (o) =>
          node.tpm.unseal(o.handle, Buffer.from(AUTH)),
        ),
    );
    expect(out).toEqual(kek);
  });

  it('tpm2_unseal unseals an object kleidi sealed with TPM2_Create', async () => {
    const kek = Buffer.alloc(32, 0x44);
    const blobs = await node.tpm.withFlushed(
      await node.tpm.createPrimary(TPM_RH_OWNER, NO_AUTH, srkTemplate()),
      (srk) =>
        node.tpm.createSealed(
          srk.handle,
          NO_AUTH,
          sealedDataTemplate(Buffer.alloc(0), { hasAuthValue: true, imported: false }),
          Buffer.from(AUTH),
          kek,
        ),
    );
    await writeFile(join(swtpm.dir, 'ours.pub'), publicBlob(blobs.public));
    await writeFile(join(swtpm.dir, 'ours.priv'), tpm2b(blobs.private));
    await tools('tpm2_load', ['-C', 'srk.ctx', '-u', 'ours.pub', '-r', 'ours.priv', '-c', 'ours.ctx', '-Q']);
    await tools('tpm2_unseal', ['-c', 'ours.ctx', '-p', `str:${AUTH}`, '-o', 'ours.out']);
    expect(await readFile(join(swtpm.dir, 'ours.out'))).toEqual(kek);
  });

  it("tpm2_import accepts kleidi's externally wrapped duplicate, and tpm2_unseal returns the KEK", async () => {
    const kek = Buffer.alloc(32, 0x55);
    const srkPub = await node.tpm.withFlushed(
      await node.tpm.createPrimary(TPM_RH_OWNER, NO_AUTH, srkTemplate()),
      async (o) => o.public,
    );
    const blob = wrapSealedDataForImport(srkPub, kek, Buffer.from(AUTH));
    await writeFile(join(swtpm.dir, 'dup.pub'), publicBlob(blob.public));
    await writeFile(join(swtpm.dir, 'dup.dpriv'), tpm2b(blob.duplicate));
    await writeFile(join(swtpm.dir, 'dup.seed'), tpm2b(blob.encryptedSeed));
    await tools('tpm2_import', [
      '-C',
      'srk.ctx',
      '-u',
      'dup.pub',
      '-i',
      'dup.dpriv',
      '-s',
      'dup.seed',
      '-r',
      'dup.priv',
      '-Q',
    ]);
    await tools('tpm2_load', ['-C', 'srk.ctx', '-u', 'dup.pub', '-r', 'dup.priv', '-c', 'dup.ctx', '-Q']);
    await tools('tpm2_unseal', ['-c', 'dup.ctx', '-p', `str:${AUTH}`, '-o', 'dup.out']);
    expect(await readFile(join(swtpm.dir, 'dup.out'))).toEqual(kek);
  });
});
