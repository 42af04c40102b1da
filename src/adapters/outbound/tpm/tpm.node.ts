import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { TPM_RH_OWNER } from './tpm.constants.js';
import type { TpmCommands } from './tpm.commands.js';
import { wrapSealedDataForImport, type ImportBlob } from './tpm.duplicate.js';
import { TpmFormatError } from './tpm.errors.js';
import { parsePublicBlob, publicBlob, type TpmPublic } from './tpm.public.js';
import { srkTemplate } from './tpm.templates.js';

/**
 * What one node does with its TPM (ADR 0014), every transient handle
 * flushed before returning: derive the SRK, import a KEK wrapped for it, and
 * unseal stored KEK versions. The owner hierarchy's auth value is empty (the
 * TCG Provisioning Guidance default); the sealed objects' auth value is `auth`.
 */
export class TpmNode {
  constructor(
    private readonly tpm: TpmCommands,
    private readonly auth: Buffer,
  ) {}

  private static readonly OWNER_AUTH = Buffer.alloc(0);

  /** The SRK's public area and Name (hex): what `enroll` prints and provisioning needs. */
  async srk(): Promise<{ public: TpmPublic; name: string }> {
    const srk = await this.tpm.createPrimary(TPM_RH_OWNER, TpmNode.OWNER_AUTH, srkTemplate());
    return this.tpm.withFlushed(srk, async (o) => ({ public: o.public, name: o.name.toString('hex') }));
  }

  /**
   * Wraps `kek` for this node's SRK (as a provisioning machine would, from
   * the SRK public) and imports it: returns what the node key file stores.
   */
  async importKek(srkPublic: TpmPublic, kek: Buffer): Promise<{ public: Buffer; private: Buffer }> {
    const [out] = await this.importWrapped(undefined, [wrapSealedDataForImport(srkPublic, kek, this.auth)]);
    return out as { public: Buffer; private: Buffer };
  }

  /**
   * Imports blobs wrapped elsewhere (a provisioning bundle) under one SRK.
   * With `srkName`, a bundle made for another TPM is refused by name first:
   * the TPM itself would fail the seed's decryption less clearly (swtpm 0.7
   * answers TPM_RC_FAILURE).
   */
  async importWrapped(
    srkName: string | undefined,
    blobs: readonly ImportBlob[],
  ): Promise<{ public: Buffer; private: Buffer }[]> {
    const srk = await this.tpm.createPrimary(TPM_RH_OWNER, TpmNode.OWNER_AUTH, srkTemplate());
    return this.tpm.withFlushed(srk, async (o) => {
      if (srkName !== undefined && o.name.toString('hex') !== srkName) {
        throw new BackendMisconfiguredError(
          `the provisioning bundle was made for the TPM whose SRK name is ${srkName}, but this TPM's is ${o.name.toString('hex')}`,
        );
      }
      const out: { public: Buffer; private: Buffer }[] = [];
      for (const b of blobs) {
        const priv = await this.tpm.import(o.handle, TpmNode.OWNER_AUTH, b.public, b.duplicate, b.encryptedSeed);
        out.push({ public: publicBlob(b.public), private: priv });
      }
      return out;
    });
  }

  /**
   * Loads and unseals stored versions under one SRK, in order. A node key
   * file made for another TPM (or for this one before a TPM clear) is
   * refused by its SRK name before anything is loaded.
   */
  async unseal(srkName: string, stored: readonly { public: Buffer; private: Buffer }[]): Promise<Buffer[]> {
    const srk = await this.tpm.createPrimary(TPM_RH_OWNER, TpmNode.OWNER_AUTH, srkTemplate());
    return this.tpm.withFlushed(srk, async (o) => {
      if (o.name.toString('hex') !== srkName) {
        throw new BackendMisconfiguredError(
          `the node key file was made for the TPM whose SRK name is ${srkName}, but this TPM's is ${o.name.toString('hex')}: provision this node`,
        );
      }
      const out: Buffer[] = [];
      for (const s of stored) {
        const pub = parsePublicBlob(s.public);
        if (pub.type !== 'keyedhash') throw new TpmFormatError('a stored KEK is not a sealed data object');
        const obj = await this.tpm.load(o.handle, TpmNode.OWNER_AUTH, { public: pub, private: s.private });
        out.push(await this.tpm.withFlushed(obj, (x) => this.tpm.unseal(x.handle, this.auth)));
      }
      return out;
    });
  }
}
