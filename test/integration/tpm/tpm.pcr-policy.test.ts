import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TPM_RH_OWNER } from '../../../src/adapters/outbound/tpm/tpm.constants.js';
import { wrapSealedDataForImport } from '../../../src/adapters/outbound/tpm/tpm.duplicate.js';
import { TpmResponseError } from '../../../src/adapters/outbound/tpm/tpm.errors.js';
import { isWrongAuth, toKmsError } from '../../../src/adapters/outbound/tpm/tpm.kms-errors.js';
import {
  parsePcrSelection,
  pcrPasswordPolicy,
  policyPcr,
  type PcrSelection,
} from '../../../src/adapters/outbound/tpm/tpm.pcr.js';
import { srkTemplate } from '../../../src/adapters/outbound/tpm/tpm.templates.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.fixture.js';
import { tpmNode, type TpmNode } from '../../support/tpm-node.js';

/**
 * PCR binding on swtpm: kleidi's offline policy digests equal tpm2-tools'
 * (trial sessions on the same TPM), a bound object unseals through a policy
 * session, and after tpm2_pcrextend the TPM refuses it with
 * TPM_RC_POLICY_FAIL, which kleidi reports as a PCR change, not a wrong auth value.
 */
const NO_AUTH = Buffer.alloc(0);
const AUTH = Buffer.from('pcr auth');

describe('PCR policy (TPM2_PolicyPCR + TPM2_PolicyPassword)', () => {
  let swtpm: Swtpm;
  let node: TpmNode;
  const sel = parsePcrSelection('sha256:0,7') as PcrSelection;

  const tools = async (cmd: string, args: string[]): Promise<string> => {
    await node.transport.close();
    return swtpm.tools(cmd, args);
  };

  beforeAll(async () => {
    swtpm = await startSwtpm();
    node = tpmNode(swtpm);
    // Non-zero PCR values, so the digest depends on them.
    await tools('tpm2_pcrextend', [`0:sha256=${'11'.repeat(32)}`]);
    await tools('tpm2_pcrextend', [`7:sha256=${'77'.repeat(32)}`]);
  });
  afterAll(async () => {
    await node?.transport.close();
    await swtpm?.stop();
  });

  it('reads the PCR values tpm2_pcrread reads', async () => {
    await tools('tpm2_pcrread', ['sha256:0,7', '-o', 'pcrs.bin']);
    const theirs = await readFile(join(swtpm.dir, 'pcrs.bin'));
    const ours = await node.tpm.pcrRead(sel);
    expect(Buffer.concat(ours)).toEqual(theirs);
    expect(ours[0]).not.toEqual(Buffer.alloc(32));
  });

  it('PolicyPCR equals tpm2_createpolicy --policy-pcr; PolicyPCR + PolicyPassword equals tpm2_policypcr + tpm2_policypassword', async () => {
    const values = await node.tpm.pcrRead(sel);
    await tools('tpm2_createpolicy', ['--policy-pcr', '-l', 'sha256:0,7', '-L', 'pcr.policy', '-Q']);
    expect(policyPcr(Buffer.alloc(32), sel, values)).toEqual(await readFile(join(swtpm.dir, 'pcr.policy')));

    await tools('tpm2_startauthsession', ['-S', 'trial.ctx']);
    await tools('tpm2_policypcr', ['-S', 'trial.ctx', '-l', 'sha256:0,7', '-Q']);
    await tools('tpm2_policypassword', ['-S', 'trial.ctx', '-L', 'both.policy', '-Q']);
    await tools('tpm2_flushcontext', ['trial.ctx']);
    const both = pcrPasswordPolicy(sel, values);
    expect(both).toEqual(await readFile(join(swtpm.dir, 'both.policy')));
    expect(both).not.toEqual(policyPcr(Buffer.alloc(32), sel, values));
  });

  it('a bound object unseals; after tpm2_pcrextend it is refused as a PCR change, never as a wrong auth value; every handle is flushed', async () => {
    const kek = Buffer.alloc(32, 0x5a);
    const unsealBound = async (): Promise<Buffer> => {
      const srk = await node.tpm.createPrimary(TPM_RH_OWNER, NO_AUTH, srkTemplate());
      return node.tpm.withFlushed(srk, async (o) => {
        const blob = wrapSealedDataForImport(o.public, kek, AUTH, pcrPasswordPolicy(sel, await node.tpm.pcrRead(sel)));
        expect(blob.public.attributes & (1 << 6)).toBe(0); // userWithAuth clear
        const priv = await node.tpm.import(o.handle, NO_AUTH, blob.public, blob.duplicate, blob.encryptedSeed);
        const obj = await node.tpm.load(o.handle, NO_AUTH, { public: blob.public, private: priv });
        return node.tpm.withFlushed(obj, async (x) => {
          // Sanity: a password session alone no longer authorises it (userWithAuth is clear).
          await expect(node.tpm.unseal(x.handle, AUTH)).rejects.toBeInstanceOf(TpmResponseError);
          return node.tpm.unsealWithPcrPolicy(x.handle, AUTH, sel);
        });
      });
    };
    expect(await unsealBound()).toEqual(kek);

    // Import under today's values, then change PCR 7 and try again.
    const srk = await node.tpm.createPrimary(TPM_RH_OWNER, NO_AUTH, srkTemplate());
    const err = await node.tpm.withFlushed(srk, async (o) => {
      const blob = wrapSealedDataForImport(o.public, kek, AUTH, pcrPasswordPolicy(sel, await node.tpm.pcrRead(sel)));
      const priv = await node.tpm.import(o.handle, NO_AUTH, blob.public, blob.duplicate, blob.encryptedSeed);
      await tools('tpm2_pcrextend', [`7:sha256=${'99'.repeat(32)}`]);
      const obj = await node.tpm.load(o.handle, NO_AUTH, { public: blob.public, private: priv });
      return node.tpm.withFlushed(obj, (x) => node.tpm.unsealWithPcrPolicy(x.handle, AUTH, sel)).catch((e) => e);
    });
    expect(err).toBeInstanceOf(TpmResponseError);
    expect((err as TpmResponseError).rc.name).toBe('TPM_RC_POLICY_FAIL');
    expect(isWrongAuth(err)).toBe(false);
    expect(toKmsError(err, 'unsealing').message).toBe(
      'PCR values changed since provisioning (TPM_RC_POLICY_FAIL unsealing); re-enroll and re-provision this node: see docs/backends/tpm.md#pcr-change',
    );
    // No transient object and no session left behind.
    expect(await node.tpm.getHandles()).toEqual([]);
    expect(await node.tpm.getHandles(0x03)).toEqual([]);
  });
});
