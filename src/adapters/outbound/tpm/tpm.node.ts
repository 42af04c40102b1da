import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { TPM_RH_OWNER } from './tpm.constants.js';
import type { TpmCommands } from './tpm.commands.js';
import { wrapSealedDataForImport, type ImportBlob } from './tpm.duplicate.js';
import { TpmFormatError } from './tpm.errors.js';
import { pcrPasswordPolicy, type PcrSelection, type PcrValues } from './tpm.pcr.js';
import { parsePublicBlob, publicBlob, type TpmPublic } from './tpm.public.js';
import { srkTemplate } from './tpm.templates.js';

/**
 * What one node does with its TPM (ADR 0014), every transient handle
 * flushed before returning: derive the SRK, import a KEK wrapped for it, and
 * unseal stored KEK versions. The owner hierarchy's auth value is empty (the
 * TCG Provisioning Guidance default); the sealed objects' auth value is `auth`.
 * With `pcrs` (tpm.pcrs), what this node imports itself is bound to its current
 * values of those PCRs, and its enrollment records them.
 */
export class TpmNode {
  constructor(
    private readonly tpm: TpmCommands,
    private readonly auth: Buffer,
    private readonly pcrs?: PcrSelection,
  ) {}

  private static readonly OWNER_AUTH = Buffer.alloc(0);

  /** The SRK's public area and Name (hex): what `enroll` prints and provisioning needs. */
  async srk(): Promise<{ public: TpmPublic; name: string }> {
    const srk = await this.tpm.createPrimary(TPM_RH_OWNER, TpmNode.OWNER_AUTH, srkTemplate());
    return this.tpm.withFlushed(srk, async (o) => ({ public: o.public, name: o.name.toString('hex') }));
  }

  /** The tpm.pcrs selection; undefined without one. */
  binding(): PcrSelection | undefined {
    return this.pcrs;
  }

  /** The current values of the tpm.pcrs selection; undefined without one (no binding). */
  async pcrValues(): Promise<PcrValues | undefined> {
    if (!this.pcrs) return undefined;
    return { selection: this.pcrs, values: await this.tpm.pcrRead(this.pcrs) };
  }

  /**
   * Wraps `kek` for this node's SRK (as a provisioning machine would, from
   * the SRK public) and imports it: returns what the node key file stores.
   * With tpm.pcrs, bound to `bound` (the values read once by the caller, so
   * every version of one call gets the same policy) or the current values.
   */
  async importKek(
    srkPublic: TpmPublic,
    kek: Buffer,
    bound?: PcrValues,
  ): Promise<{ public: Buffer; private: Buffer; pcrs?: PcrSelection }> {
    const pcr = bound ?? (await this.pcrValues());
    const policy = pcr ? pcrPasswordPolicy(pcr.selection, pcr.values) : undefined;
    const [out] = await this.importWrapped(undefined, [wrapSealedDataForImport(srkPublic, kek, this.auth, policy)]);
    return { ...(out as { public: Buffer; private: Buffer }), ...(pcr ? { pcrs: pcr.selection } : {}) };
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
   * refused by its SRK name before anything is loaded. A version bound to
   * PCRs (`pcrs`) is unsealed through a policy session (PolicyPCR, then
   * PolicyPassword with the auth value), flushed after use; the others
   * through a password session.
   */
  async unseal(
    srkName: string,
    stored: readonly { public: Buffer; private: Buffer; pcrs?: PcrSelection }[],
  ): Promise<Buffer[]> {
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
        if (pub.authPolicy.length > 0 && !s.pcrs) {
          throw new TpmFormatError('a stored KEK has a policy but the node key file names no PCR selection for it');
        }
        const pcrs = s.pcrs;
        const obj = await this.tpm.load(o.handle, TpmNode.OWNER_AUTH, { public: pub, private: s.private });
        out.push(
          await this.tpm.withFlushed(obj, (x) =>
            pcrs ? this.tpm.unsealWithPcrPolicy(x.handle, this.auth, pcrs) : this.tpm.unseal(x.handle, this.auth),
          ),
        );
      }
      return out;
    });
  }
}
