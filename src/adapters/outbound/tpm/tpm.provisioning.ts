import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { KeyId } from '../../../domain/model/key-id.js';
import { parseKeyId } from '../../../domain/model/key-id.js';
import { wrapSealedDataForImport } from './tpm.duplicate.js';
import { ascending, base64, positiveInt, record } from './tpm.json-shape.js';
import { tpmKeyId } from './tpm.key-id.js';
import { toKmsError } from './tpm.kms-errors.js';
import { readNodeKeys, writeNodeKeys, type NodeVersion } from './tpm.node-file.js';
import type { TpmNode } from './tpm.node.js';
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
 */
export interface Enrollment {
  readonly format: 'kleidi-tpm-enrollment/1';
  /** TPM2B_PUBLIC of the node's SRK, base64. */
  readonly srkPublic: string;
  /** Its Name, hex: compare it out of band with what the node printed. */
  readonly srkName: string;
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
  readonly current: number;
  readonly versions: readonly BundleVersion[];
}

export async function enrollment(node: TpmNode): Promise<Enrollment> {
  try {
    const srk = await node.srk();
    return {
      format: 'kleidi-tpm-enrollment/1',
      srkPublic: publicBlob(srk.public).toString('base64'),
      srkName: srk.name,
    };
  } catch (err) {
    throw toKmsError(err, "reading this TPM's storage key");
  }
}

/** Checks an enrollment read from a file: the public area parses and its Name is the one stated. */
function parseEnrollment(value: unknown): { srkPublic: TpmPublic; srkName: string } {
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
  return { srkPublic, srkName: name };
}

export function provisioningBundle(
  enrolled: unknown,
  ring: readonly RingVersion[],
  auth: Buffer,
  current: number,
): ProvisioningBundle {
  const { srkPublic, srkName } = parseEnrollment(enrolled);
  if (!ring.some((v) => v.version === current))
    throw new BackendMisconfiguredError(`the ring has no version ${current}`);
  const versions = ring.map((v) => {
    const blob = wrapSealedDataForImport(srkPublic, v.kek, auth);
    return {
      version: v.version,
      keyId: tpmKeyId(v.version, v.kek),
      public: publicBlob(blob.public),
      duplicate: blob.duplicate,
      encryptedSeed: blob.encryptedSeed,
    };
  });
  return { srkName, current, versions };
}

/** The bundle as JSON (what `provision` writes) and back. */
export function bundleJson(b: ProvisioningBundle): unknown {
  return {
    format: 'kleidi-tpm-bundle/1',
    srkName: b.srkName,
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
    typeof r?.srkName !== 'string'
  ) {
    throw new BackendMisconfiguredError('the provisioning bundle is malformed');
  }
  return { srkName: r.srkName, current, versions: versions as BundleVersion[] };
}

/**
 * Imports the bundle's versions that the node key file does not hold yet,
 * and sets its current version. Versions already held are kept as they are.
 */
export async function importBundle(node: TpmNode, bundle: ProvisioningBundle, nodeKeyFile: string): Promise<void> {
  const existing = await readNodeKeys(nodeKeyFile);
  if (existing && existing.keys.srkName !== bundle.srkName) {
    throw new BackendMisconfiguredError(
      `${nodeKeyFile} belongs to the TPM whose SRK name is ${existing.keys.srkName}, the bundle to ${bundle.srkName}`,
    );
  }
  const held = new Set(existing?.keys.versions.map((v) => v.keyId));
  for (const v of bundle.versions) {
    const same = existing?.keys.versions.find((x) => x.version === v.version);
    if (same && same.keyId !== v.keyId) {
      throw new BackendMisconfiguredError(
        `${nodeKeyFile} holds version ${v.version} as ${same.keyId}, the bundle as ${v.keyId}: the bundle was made from another KEK ring`,
      );
    }
  }
  const fresh = bundle.versions.filter((v) => !held.has(v.keyId));
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
  }));
  const versions = [...(existing?.keys.versions ?? []), ...added].sort((a, b) => a.version - b.version);
  await writeNodeKeys(nodeKeyFile, { srkName: bundle.srkName, current: bundle.current, versions });
}
