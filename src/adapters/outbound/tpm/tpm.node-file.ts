import { BackendMisconfiguredError, InvalidRequestError } from '../../../domain/model/errors.js';
import { parseKeyId, type KeyId } from '../../../domain/model/key-id.js';
import { readJsonFile, writeJsonFile, writeNewJsonFile } from './tpm.files.js';
import { ascending, base64, positiveInt, record } from './tpm.json-shape.js';
import { formatPcrSelection, parsePcrSelection, type PcrSelection } from './tpm.pcr.js';

/**
 * A node key file (ADR 0014): for each KEK version, the sealed object's
 * public area (TPM2B_PUBLIC) and the private area TPM2_Import returned,
 * encrypted under this node's SRK, with the key_id the unsealed KEK must
 * match; the Name of the SRK it belongs to (hex); the current version.
 * A version bound to PCR values names the PCR selection its policy session
 * replays (`pcrs`, e.g. "sha256:0,7"); the values themselves are in the
 * object's authPolicy, which the TPM checks.
 */
export interface NodeVersion {
  readonly version: number;
  readonly keyId: KeyId;
  /** TPM2B_PUBLIC. */
  readonly public: Buffer;
  /** TPM2B_PRIVATE contents. */
  readonly private: Buffer;
  /** The PCR selection of the object's policy; absent = not bound to PCRs. */
  readonly pcrs?: PcrSelection;
}

export interface NodeKeys {
  readonly srkName: string;
  readonly current: number;
  readonly versions: readonly NodeVersion[];
}

const WHAT = 'TPM node key file';
const FORMAT = 'kleidi-tpm-node/1';

function nodeVersion(e: unknown): NodeVersion | undefined {
  const r = record(e);
  const version = positiveInt(r?.version);
  const pub = base64(r?.public);
  const priv = base64(r?.private);
  if (version === undefined || !pub || !priv || typeof r?.keyId !== 'string') return undefined;
  if (r.pcrs !== undefined && (typeof r.pcrs !== 'string' || r.pcrs === '')) return undefined;
  try {
    const pcrs = parsePcrSelection(r.pcrs);
    return { version, keyId: parseKeyId(r.keyId), public: pub, private: priv, ...(pcrs ? { pcrs } : {}) };
  } catch (e) {
    if (e instanceof InvalidRequestError || e instanceof BackendMisconfiguredError) return undefined;
    throw e;
  }
}

export async function readNodeKeys(path: string): Promise<{ keys: NodeKeys; stamp: string } | undefined> {
  const read = await readJsonFile(path, WHAT);
  if (!read) return undefined;
  const root = record(read.value);
  const current = positiveInt(root?.current);
  const srkName =
    typeof root?.srkName === 'string' && /^000b[0-9a-f]{64}$/.test(root.srkName) ? root.srkName : undefined;
  const versions =
    root?.format === FORMAT && Array.isArray(root.versions) ? (root.versions as unknown[]).map(nodeVersion) : undefined;
  if (
    !versions ||
    versions.some((v) => v === undefined) ||
    !ascending(versions as NodeVersion[]) ||
    !srkName ||
    current === undefined
  ) {
    throw new BackendMisconfiguredError(`${WHAT} ${path} is malformed`);
  }
  if (!versions.some((v) => v?.version === current)) {
    throw new BackendMisconfiguredError(`${WHAT} ${path} names current version ${current}, which it does not hold`);
  }
  return { keys: { srkName, current, versions: versions as NodeVersion[] }, stamp: read.stamp };
}

export function writeNodeKeys(path: string, keys: NodeKeys): Promise<void> {
  return writeJsonFile(path, nodeKeysJson(keys), WHAT);
}

/**
 * A copy of the node key file as it was before `kleidi retire` dropped `version`:
 * `<file>.retire-v<N>-<UTC time>.bak`, returned. ADR 0021: its blobs open only in this
 * node's TPM (same SRK, auth value and PCR values), so it can undo the retire here and
 * nowhere else, and it exposes nothing without that TPM.
 */
export async function backupNodeKeys(path: string, keys: NodeKeys, version: number, now: Date): Promise<string> {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const backup = `${path}.retire-v${version}-${stamp}.bak`;
  await writeNewJsonFile(backup, nodeKeysJson(keys), `${WHAT} backup`);
  return backup;
}

function nodeKeysJson(keys: NodeKeys): unknown {
  return {
    format: FORMAT,
    srkName: keys.srkName,
    current: keys.current,
    versions: keys.versions.map((v) => ({
      version: v.version,
      keyId: v.keyId,
      public: v.public.toString('base64'),
      private: v.private.toString('base64'),
      ...(v.pcrs ? { pcrs: formatPcrSelection(v.pcrs) } : {}),
    })),
  };
}
