import { randomBytes } from 'node:crypto';
import { TpmWriter, type TpmReader } from './tpm.buffer.js';
import { execute, type TpmCommand, type TpmResult } from './tpm.command.js';
import {
  TPM_ALG,
  TPM_CAP_HANDLES,
  TPM_CAP_TPM_PROPERTIES,
  TPM_CC,
  TPM_HT_TRANSIENT,
  TPM_RH_NULL,
  TPM_SE_POLICY,
  TPM_SU_CLEAR,
} from './tpm.constants.js';
import { TpmFormatError, TpmResponseError } from './tpm.errors.js';
import { marshalPcrSelection, type PcrSelection } from './tpm.pcr.js';
import { marshalPublic, unmarshalPublic, type TpmPublic } from './tpm.public.js';
import { baseCode, RC } from './tpm.response-code.js';
import type { TpmTransport } from './tpm.transport.js';

const EMPTY = Buffer.alloc(0);

/**
 * Warnings that mean "the TPM did not start the command, send it again"
 * (Part 2 §6.6.3: TPM_RC_RETRY, TPM_RC_YIELDED, TPM_RC_TESTING). tpm2-tss'
 * ESAPI resubmits these up to 5 times (_ESYS_MAX_SUBMISSIONS, src/tss2-esys/
 * esys_int.h); libtpms answers RETRY to the first DA-protected authorisation
 * after start while it records the DA state in NV. No authorisation was
 * checked, so resubmitting does not count toward dictionary-attack lockout.
 */
const RESUBMIT = new Set<number>([RC.RETRY, RC.YIELDED, RC.TESTING]);
const MAX_SUBMISSIONS = 5;

/** A loaded object: its transient handle, public area and Name. */
export interface LoadedObject {
  readonly handle: number;
  readonly public: TpmPublic;
  readonly name: Buffer;
}

/** An object's public and private areas, as TPM2_Create and TPM2_Import return them (tpm2-tools' .pub/.priv). */
export interface ObjectBlobs {
  readonly public: TpmPublic;
  /** TPM2B_PRIVATE contents: encrypted under the parent's storage key. */
  readonly private: Buffer;
}

/**
 * The TPM 2.0 commands kleidi uses, marshalled from the TPM 2.0 Library
 * specification Part 3 "Commands" (section numbers per command below;
 * https://trustedcomputinggroup.org/resource/tpm-library-specification/).
 * Nothing is retried here, in particular not a command answered
 * TPM_RC_AUTH_FAIL or TPM_RC_BAD_AUTH (a retry with the same wrong auth value
 * only moves the TPM toward dictionary-attack lockout). The exceptions are
 * answers that mean the TPM executed nothing: TPM_RC_INITIALIZE (TPM2_Startup
 * is sent first: a fresh swtpm without --flags startup-clear) and the
 * warnings in RESUBMIT.
 */
export class TpmCommands {
  constructor(private readonly transport: TpmTransport) {}

  private async run(cmd: TpmCommand): Promise<TpmResult> {
    for (let submission = 1; ; submission++) {
      try {
        return await execute(this.transport, cmd);
      } catch (e) {
        if (!(e instanceof TpmResponseError)) throw e;
        const rc = baseCode(e.rc.code);
        if (rc === RC.INITIALIZE && cmd.code !== TPM_CC.Startup && submission === 1) {
          await this.startup();
        } else if (!RESUBMIT.has(rc) || submission >= MAX_SUBMISSIONS) {
          throw e;
        }
      }
    }
  }

  /** TPM2_Startup(TPM_SU_CLEAR), Part 3 §9.3. */
  async startup(): Promise<void> {
    const { params } = await execute(this.transport, {
      name: 'Startup',
      code: TPM_CC.Startup,
      params: new TpmWriter().u16(TPM_SU_CLEAR).done(),
    });
    params.end();
  }

  /** TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES), Part 3 §30.2: property → value pairs from `first`. */
  async getProperties(first: number, count: number): Promise<Map<number, number>> {
    const r = await this.getCapability(TPM_CAP_TPM_PROPERTIES, first, count);
    const out = new Map<number, number>();
    for (let n = r.u32(); n > 0; n--) {
      out.set(r.u32(), r.u32());
    }
    r.end();
    return out;
  }

  /** TPM2_GetCapability(TPM_CAP_HANDLES), Part 3 §30.2: the handles of a type, e.g. the loaded transient objects. */
  async getHandles(handleType = TPM_HT_TRANSIENT, max = 64): Promise<number[]> {
    const r = await this.getCapability(TPM_CAP_HANDLES, (handleType << 24) >>> 0, max);
    const out: number[] = [];
    for (let n = r.u32(); n > 0; n--) {
      out.push(r.u32());
    }
    r.end();
    return out;
  }

  private async getCapability(capability: number, property: number, count: number): Promise<TpmReader> {
    const { params } = await this.run({
      name: 'GetCapability',
      code: TPM_CC.GetCapability,
      params: new TpmWriter().u32(capability).u32(property).u32(count).done(),
    });
    params.u8(); // moreData
    const cap = params.u32();
    if (cap !== capability) {
      throw new TpmFormatError(`TPM2_GetCapability answered capability ${cap}, not ${capability}`);
    }
    return params;
  }

  /** TPM2_GetRandom, Part 3 §16.1. */
  async getRandom(bytes: number): Promise<Buffer> {
    const { params } = await this.run({
      name: 'GetRandom',
      code: TPM_CC.GetRandom,
      params: new TpmWriter().u16(bytes).done(),
    });
    const out = params.tpm2b();
    params.end();
    return out;
  }

  /**
   * TPM2_CreatePrimary, Part 3 §24.1: a primary key in `hierarchy` from
   * `template`, with an empty auth value and no sensitive data. The caller
   * flushes the returned handle.
   */
  async createPrimary(hierarchy: number, hierarchyAuth: Uint8Array, template: TpmPublic): Promise<LoadedObject> {
    const { handles, params } = await this.run({
      name: 'CreatePrimary',
      code: TPM_CC.CreatePrimary,
      handles: [hierarchy],
      passwords: [hierarchyAuth],
      params: new TpmWriter()
        .sized((w) => w.tpm2b(EMPTY).tpm2b(EMPTY)) // TPM2B_SENSITIVE_CREATE: userAuth, data
        .tpm2b(marshalPublic(template))
        .tpm2b(EMPTY) // outsideInfo
        .u32(0) // creationPCR: TPML_PCR_SELECTION with count 0
        .done(),
      responseHandles: 1,
    });
    const pub = params.sized(unmarshalPublic, 'TPMT_PUBLIC');
    params.tpm2b(); // creationData
    params.tpm2b(); // creationHash
    skipCreationTicket(params);
    const name = params.tpm2b();
    params.end();
    return { handle: handles[0] as number, public: pub, name };
  }

  /**
   * TPM2_Create, Part 3 §12.1: a sealed data object holding `data` under
   * `parent` (the TPM makes it; used to cross-check with tpm2-tools).
   */
  async createSealed(
    parent: number,
    parentAuth: Uint8Array,
    template: TpmPublic,
    authValue: Uint8Array,
    data: Uint8Array,
  ): Promise<ObjectBlobs> {
    const { params } = await this.run({
      name: 'Create',
      code: TPM_CC.Create,
      handles: [parent],
      passwords: [parentAuth],
      params: new TpmWriter()
        .sized((w) => w.tpm2b(authValue).tpm2b(data))
        .tpm2b(marshalPublic(template))
        .tpm2b(EMPTY)
        .u32(0)
        .done(),
    });
    const priv = params.tpm2b();
    const pub = params.sized(unmarshalPublic, 'TPMT_PUBLIC');
    params.tpm2b();
    params.tpm2b();
    skipCreationTicket(params);
    params.end();
    return { public: pub, private: priv };
  }

  /** TPM2_ReadPublic, Part 3 §12.4. */
  async readPublic(handle: number): Promise<{ public: TpmPublic; name: Buffer }> {
    const { params } = await this.run({
      name: 'ReadPublic',
      code: TPM_CC.ReadPublic,
      handles: [handle],
    });
    const pub = params.sized(unmarshalPublic, 'TPMT_PUBLIC');
    const name = params.tpm2b();
    params.tpm2b(); // qualifiedName
    params.end();
    return { public: pub, name };
  }

  /** TPM2_Load, Part 3 §12.2. The caller flushes the returned handle. */
  async load(parent: number, parentAuth: Uint8Array, blobs: ObjectBlobs): Promise<LoadedObject> {
    const { handles, params } = await this.run({
      name: 'Load',
      code: TPM_CC.Load,
      handles: [parent],
      passwords: [parentAuth],
      params: new TpmWriter().tpm2b(blobs.private).tpm2b(marshalPublic(blobs.public)).done(),
      responseHandles: 1,
    });
    const name = params.tpm2b();
    params.end();
    return { handle: handles[0] as number, public: blobs.public, name };
  }

  /**
   * TPM2_Import, Part 3 §13.3, of an object wrapped with an outer wrapper
   * only (encryptionKey empty, symmetricAlg TPM_ALG_NULL): returns the
   * private area re-encrypted under `parent`.
   */
  async import(
    parent: number,
    parentAuth: Uint8Array,
    objectPublic: TpmPublic,
    duplicate: Buffer,
    encryptedSeed: Buffer,
  ): Promise<Buffer> {
    const { params } = await this.run({
      name: 'Import',
      code: TPM_CC.Import,
      handles: [parent],
      passwords: [parentAuth],
      params: new TpmWriter()
        .tpm2b(EMPTY)
        .tpm2b(marshalPublic(objectPublic))
        .tpm2b(duplicate)
        .tpm2b(encryptedSeed)
        .u16(TPM_ALG.NULL)
        .done(),
    });
    const priv = params.tpm2b();
    params.end();
    return priv;
  }

  /** TPM2_Unseal, Part 3 §12.7, authorised by the object's auth value in a password session. */
  async unseal(handle: number, authValue: Uint8Array): Promise<Buffer> {
    const { params } = await this.run({
      name: 'Unseal',
      code: TPM_CC.Unseal,
      handles: [handle],
      passwords: [authValue],
    });
    const data = params.tpm2b();
    params.end();
    return data;
  }

  /**
   * TPM2_PCR_Read, Part 3 §22.4: the values of the selected PCRs, in
   * selection order. A TPM returns at most 8 digests per answer (TPML_DIGEST,
   * Part 2 §10.9.2), so the PCRs not yet returned are asked again.
   */
  async pcrRead(s: PcrSelection): Promise<Buffer[]> {
    const values = new Map<number, Buffer>();
    let rest = [...s.pcrs];
    while (rest.length > 0) {
      const { params } = await this.run({
        name: 'PCR_Read',
        code: TPM_CC.PCR_Read,
        params: marshalPcrSelection({ bank: s.bank, pcrs: rest }),
      });
      params.u32(); // pcrUpdateCounter
      const returned: number[] = [];
      for (let banks = params.u32(); banks > 0; banks--) {
        params.u16(); // hash
        const bitmap = params.bytes(params.u8());
        for (let n = 0; n < bitmap.length * 8; n++) if (((bitmap[n >> 3] as number) >> (n & 7)) & 1) returned.push(n);
      }
      const digests: Buffer[] = [];
      for (let n = params.u32(); n > 0; n--) digests.push(params.tpm2b());
      params.end();
      if (returned.length === 0 || digests.length !== returned.length) {
        throw new TpmFormatError('TPM2_PCR_Read returned no PCR of the selection (is the SHA-256 bank allocated?)');
      }
      returned.forEach((n, i) => {
        values.set(n, digests[i] as Buffer);
      });
      rest = rest.filter((n) => !values.has(n));
    }
    return s.pcrs.map((n) => values.get(n) as Buffer);
  }

  /**
   * TPM2_StartAuthSession, Part 3 §11.1: a policy session, unsalted
   * (tpmKey = TPM_RH_NULL) and unbound (bind = TPM_RH_NULL), no parameter
   * encryption (symmetric TPM_ALG_NULL), SHA-256. The caller flushes it.
   */
  async startPolicySession(): Promise<{ handle: number }> {
    const { handles, params } = await this.run({
      name: 'StartAuthSession',
      code: TPM_CC.StartAuthSession,
      handles: [TPM_RH_NULL, TPM_RH_NULL],
      params: new TpmWriter()
        .tpm2b(randomBytes(16)) // nonceCaller: at least 16 octets (Part 3 §11.1.1)
        .tpm2b(EMPTY) // encryptedSalt
        .u8(TPM_SE_POLICY)
        .u16(TPM_ALG.NULL) // symmetric: TPMT_SYM_DEF with TPM_ALG_NULL
        .u16(TPM_ALG.SHA256)
        .done(),
      responseHandles: 1,
    });
    params.tpm2b(); // nonceTPM
    params.end();
    return { handle: handles[0] as number };
  }

  /** TPM2_PolicyPCR, Part 3 §23.7, with an empty pcrDigest: the TPM extends the policy with the current values. */
  async policyPcr(session: number, s: PcrSelection): Promise<void> {
    const { params } = await this.run({
      name: 'PolicyPCR',
      code: TPM_CC.PolicyPCR,
      handles: [session],
      params: new TpmWriter().tpm2b(EMPTY).bytes(marshalPcrSelection(s)).done(),
    });
    params.end();
  }

  /** TPM2_PolicyPassword, Part 3 §23.18. */
  async policyPassword(session: number): Promise<void> {
    const { params } = await this.run({ name: 'PolicyPassword', code: TPM_CC.PolicyPassword, handles: [session] });
    params.end();
  }

  /**
   * TPM2_Unseal of a PCR-bound object: a policy session satisfied with
   * PolicyPCR(s) then PolicyPassword, the auth value in it; the session is
   * flushed whatever happens. Changed PCRs make Unseal answer
   * TPM_RC_POLICY_FAIL (the session's digest is not the object's authPolicy).
   */
  async unsealWithPcrPolicy(handle: number, authValue: Uint8Array, s: PcrSelection): Promise<Buffer> {
    return this.withFlushed(await this.startPolicySession(), async (session) => {
      await this.policyPcr(session.handle, s);
      await this.policyPassword(session.handle);
      const { params } = await this.run({
        name: 'Unseal',
        code: TPM_CC.Unseal,
        handles: [handle],
        passwords: [authValue],
        policySession: session.handle,
      });
      const data = params.tpm2b();
      params.end();
      return data;
    });
  }

  /** TPM2_FlushContext, Part 3 §28.4 (the handle is a parameter, not in the handle area). */
  async flushContext(handle: number): Promise<void> {
    const { params } = await this.run({
      name: 'FlushContext',
      code: TPM_CC.FlushContext,
      params: new TpmWriter().u32(handle).done(),
    });
    params.end();
  }

  /** Runs `use` with a transient handle and flushes it afterwards, whatever happens. */
  async withFlushed<T, O extends { handle: number }>(obj: O, use: (obj: O) => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await use(obj);
    } catch (e) {
      // The command's own error is what the caller needs; a failed flush after it (a TPM gone) adds nothing.
      await this.flushContext(obj.handle).catch(() => undefined);
      throw e;
    }
    await this.flushContext(obj.handle);
    return result;
  }
}

/** TPMT_TK_CREATION (Part 2 §10.7.3): tag, hierarchy, TPM2B digest. */
function skipCreationTicket(r: TpmReader): void {
  r.u16();
  r.u32();
  r.tpm2b();
}
