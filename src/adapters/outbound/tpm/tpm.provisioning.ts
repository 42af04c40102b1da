import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { KeyId } from '../../../domain/model/key-id.js';
import { parseKeyId } from '../../../domain/model/key-id.js';
import { wrapSealedDataForImport } from './tpm.duplicate.js';
import { ascending, base64, positiveInt, record } from './tpm.json-shape.js';
import { tpmKeyId } from './tpm.key-id.js';
import { toKmsError } from './tpm.kms-errors.js';
import { readNodeKeys, writeNodeKeys, type NodeVersion } from './tpm.node-file.js';
import type { TpmNode } from './tpm.node.js';
import {
  formatPcrSelection,
  parsePcrSelection,
  pcrPasswordPolicy,
  type PcrSelection,
  type PcrValues,
} from './tpm.pcr.js';
import { objectName, parsePublicBlob, publicBlob, type KeyedHashPublic, type TpmPublic } from './tpm.public.js';
import type { RingVersion } from './tpm.ring-file.js';

/**
 * The offline provisioning flow of ADR 0014, in three steps:
 * 1. enrollment(node), on each node: its SRK public area and Name (not secret).
 * 2. provisioningBundle(enrollment, ring, auth, current), on the machine that
 *    holds the ring file, with no TPM: every ring version wrapped for that
 *    node's SRK (TPM2_Import's outer wrapper). A bundle is only importable by
 *    that node's TPM; it holds no KEK in the clear.
 * 3. importBundle(node, bundle, nodeKeyFile), on the node: TPM2_Import of each
 *    version new to the node, the node key file written with the bundle's
 *    current version. Provisioning a new version with the old current, then
 *    again with the new one, is the two-phase rotation.
 * PCR binding (tpm.pcrs on the node): the enrollment carries the node's
 * current values of its PCR selection, and the provisioning machine sets
 * each object's authPolicy from them (PolicyPCR, then PolicyPassword). The
 * ring holder's own tpm.pcrs plays no part: the enrollment decides. To bind
 * to predicted values (before a firmware update), edit them in the enrollment.
 */
export interface Enrollment {
  readonly format: 'kleidi-tpm-enrollment/1';
  /** TPM2B_PUBLIC of the node's SRK, base64. */
  readonly srkPublic: string;
  /** Its Name, hex: compare it out of band with what the node printed. */
  readonly srkName: string;
  /** With tpm.pcrs: the selection ("sha256:0,7") and the node's values of it (hex, in selection order). */
  readonly pcrs?: { readonly selection: string; readonly values: readonly string[] };
}

interface BundleVersion {
  readonly version: number;
  readonly keyId: KeyId;
  readonly public: Buffer;
  readonly duplicate: Buffer;
  readonly encryptedSeed: Buffer;
}

export interface ProvisioningBundle {
  readonly srkName: string;
  /** The PCR selection every version's policy replays; absent = not bound. */
  readonly pcrs?: PcrSelection;
  readonly current: number;
  readonly versions: readonly BundleVersion[];
}

export async function enrollment(node: TpmNode): Promise<Enrollment> {
  try {
    const srk = await node.srk();
    const pcr = await node.pcrValues();
    return {
      format: 'kleidi-tpm-enrollment/1',
      srkPublic: publicBlob(srk.public).toString('base64'),
      srkName: srk.name,
      ...(pcr
        ? { pcrs: { selection: formatPcrSelection(pcr.selection), values: pcr.values.map((v) => v.toString('hex')) } }
        : {}),
    };
  } catch (err) {
    throw toKmsError(err, "reading this TPM's storage key");
  }
}

/** The enrollment's PCR values: a valid selection and one SHA-256 value (64 hex digits) per PCR. */
function parseEnrolledPcrs(value: unknown): PcrValues | undefined {
  if (value === undefined) return undefined;
  const r = record(value);
  const values = Array.isArray(r?.values) ? (r.values as unknown[]) : undefined;
  const selection = typeof r?.selection === 'string' && r.selection !== '' ? parsePcrSelection(r.selection) : undefined;
  if (
    !selection ||
    !values ||
    values.length !== selection.pcrs.length ||
    values.some((v) => typeof v !== 'string' || !/^[0-9a-f]{64}$/i.test(v))
  ) {
    throw new BackendMisconfiguredError(
      'the enrollment\'s pcrs must name a selection ("sha256:0,7") and one SHA-256 value (64 hex digits) per PCR, in order',
    );
  }
  return { selection, values: (values as string[]).map((v) => Buffer.from(v, 'hex')) };
}

/** Checks an enrollment read from a file: the public area parses and its Name is the one stated. */
function parseEnrollment(value: unknown): { srkPublic: TpmPublic; srkName: string; pcrs?: PcrValues } {
  const r = record(value);
  const pub = base64(r?.srkPublic);
  if (r?.format !== 'kleidi-tpm-enrollment/1' || !pub || typeof r.srkName !== 'string') {
    throw new BackendMisconfiguredError('the enrollment is malformed');
  }
  let srkPublic: TpmPublic;
  try {
    srkPublic = parsePublicBlob(pub);
  } catch {
    throw new BackendMisconfiguredError('the enrollment holds no valid TPM public area');
  }
  const name = objectName(srkPublic).toString('hex');
  if (name !== r.srkName)
    throw new BackendMisconfiguredError(`the enrollment's public area has Name ${name}, not ${r.srkName}`);
  const pcrs = parseEnrolledPcrs(r.pcrs);
  return { srkPublic, srkName: name, ...(pcrs ? { pcrs } : {}) };
}

export function provisioningBundle(
  enrolled: unknown,
  ring: readonly RingVersion[],
  auth: Buffer,
  current: number,
): ProvisioningBundle {
  const { srkPublic, srkName, pcrs } = parseEnrollment(enrolled);
  const policy = pcrs ? pcrPasswordPolicy(pcrs.selection, pcrs.values) : undefined;
  if (!ring.some((v) => v.version === current))
    throw new BackendMisconfiguredError(`the ring has no version ${current}`);
  const versions = ring.map((v) => {
    const blob = wrapSealedDataForImport(srkPublic, v.kek, auth, policy);
    return {
      version: v.version,
      keyId: tpmKeyId(v.version, v.kek),
      public: publicBlob(blob.public),
      duplicate: blob.duplicate,
      encryptedSeed: blob.encryptedSeed,
    };
  });
  return { srkName, current, versions, ...(pcrs ? { pcrs: pcrs.selection } : {}) };
}

/** The bundle as JSON (what `provision` writes) and back. */
export function bundleJson(b: ProvisioningBundle): unknown {
  return {
    format: 'kleidi-tpm-bundle/1',
    srkName: b.srkName,
    ...(b.pcrs ? { pcrs: formatPcrSelection(b.pcrs) } : {}),
    current: b.current,
    versions: b.versions.map((v) => ({
      version: v.version,
      keyId: v.keyId,
      public: v.public.toString('base64'),
      duplicate: v.duplicate.toString('base64'),
      encryptedSeed: v.encryptedSeed.toString('base64'),
    })),
  };
}

export function parseBundle(value: unknown): ProvisioningBundle {
  const r = record(value);
  const current = positiveInt(r?.current);
  const list = r?.format === 'kleidi-tpm-bundle/1' && Array.isArray(r.versions) ? (r.versions as unknown[]) : undefined;
  const versions = list?.map((e) => {
    const v = record(e);
    const version = positiveInt(v?.version);
    const pub = base64(v?.public);
    const duplicate = base64(v?.duplicate);
    const encryptedSeed = base64(v?.encryptedSeed);
    if (version === undefined || !pub || !duplicate || !encryptedSeed || typeof v?.keyId !== 'string') return undefined;
    return { version, keyId: parseKeyId(v.keyId), public: pub, duplicate, encryptedSeed };
  });
  if (
    !versions ||
    versions.some((v) => v === undefined) ||
    !ascending(versions as BundleVersion[]) ||
    current === undefined ||
    typeof r?.srkName !== 'string' ||
    (r.pcrs !== undefined && (typeof r.pcrs !== 'string' || r.pcrs === ''))
  ) {
    throw new BackendMisconfiguredError('the provisioning bundle is malformed');
  }
  const pcrs = parsePcrSelection(r.pcrs as string | undefined);
  return { srkName: r.srkName, current, versions: versions as BundleVersion[], ...(pcrs ? { pcrs } : {}) };
}

/** The authPolicy of a stored or bundled public area (empty when unbound or unparsable). */
function policyOf(pub: Buffer): Buffer {
  try {
    return parsePublicBlob(pub).authPolicy;
  } catch {
    return Buffer.alloc(0);
  }
}

/**
 * Imports the bundle's versions that the node key file does not hold yet,
 * and sets its current version. A version already held is kept as it is,
 * unless the bundle binds it differently (another PCR selection or other
 * PCR values: re-provisioning after a PCR change, or turning binding on or
 * off), in which case the bundle's object replaces it.
 */
export async function importBundle(node: TpmNode, bundle: ProvisioningBundle, nodeKeyFile: string): Promise<void> {
  const existing = await readNodeKeys(nodeKeyFile);
  if (existing && existing.keys.srkName !== bundle.srkName) {
    throw new BackendMisconfiguredError(
      `${nodeKeyFile} belongs to the TPM whose SRK name is ${existing.keys.srkName}, the bundle to ${bundle.srkName}`,
    );
  }
  const heldVersions = new Map(existing?.keys.versions.map((v) => [v.keyId, v]));
  const rebinds = (v: BundleVersion): boolean => {
    const h = heldVersions.get(v.keyId) as NodeVersion;
    const sel = (p?: PcrSelection) => (p ? formatPcrSelection(p) : '');
    return sel(h.pcrs) !== sel(bundle.pcrs) || !policyOf(h.public).equals(policyOf(v.public));
  };
  for (const v of bundle.versions) {
    const same = existing?.keys.versions.find((x) => x.version === v.version);
    if (same && same.keyId !== v.keyId) {
      throw new BackendMisconfiguredError(
        `${nodeKeyFile} holds version ${v.version} as ${same.keyId}, the bundle as ${v.keyId}: the bundle was made from another KEK ring`,
      );
    }
  }
  const fresh = bundle.versions.filter((v) => !heldVersions.has(v.keyId) || rebinds(v));
  const replaced = new Set(fresh.map((v) => v.keyId));
  let imported: { public: Buffer; private: Buffer }[];
  try {
    imported = await node.importWrapped(
      bundle.srkName,
      fresh.map((v) => {
        const pub = parsePublicBlob(v.public);
        if (pub.type !== 'keyedhash')
          throw new BackendMisconfiguredError('the provisioning bundle holds an object that is not sealed data');
        return { public: pub as KeyedHashPublic, duplicate: v.duplicate, encryptedSeed: v.encryptedSeed };
      }),
    );
  } catch (err) {
    throw toKmsError(err, 'importing the provisioning bundle');
  }
  const added: NodeVersion[] = fresh.map((v, i) => ({
    version: v.version,
    keyId: v.keyId,
    ...(imported[i] as { public: Buffer; private: Buffer }),
    ...(bundle.pcrs ? { pcrs: bundle.pcrs } : {}),
  }));
  const kept = (existing?.keys.versions ?? []).filter((v) => !replaced.has(v.keyId));
  const versions = [...kept, ...added].sort((a, b) => a.version - b.version);
  await writeNodeKeys(nodeKeyFile, { srkName: bundle.srkName, current: bundle.current, versions });
}
