import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { readJsonFile, writeJsonFile } from './tpm.files.js';
import { ascending, base64, positiveInt, record } from './tpm.json-shape.js';

/**
 * The KEK ring file (ADR 0014): every KEK version in the clear, the one
 * place a KEK exists outside the TPMs and kleidi's memory. Needed only to
 * create, rotate and provision; kept offline otherwise.
 * `{"format": "kleidi-tpm-ring/1", "versions": [{"version": 1, "kek": "<base64>"}]}`
 */
export interface RingVersion {
  readonly version: number;
  readonly kek: Buffer;
}

const WHAT = 'TPM KEK ring file';
const FORMAT = 'kleidi-tpm-ring/1';

export async function readRing(path: string): Promise<{ versions: RingVersion[]; stamp: string } | undefined> {
  const read = await readJsonFile(path, WHAT);
  if (!read) return undefined;
  const root = record(read.value);
  const list = root?.format === FORMAT && Array.isArray(root.versions) ? (root.versions as unknown[]) : undefined;
  const versions = list?.map((e) => {
    const r = record(e);
    const version = positiveInt(r?.version);
    const kek = base64(r?.kek);
    return version !== undefined && kek?.length === 32 ? { version, kek } : undefined;
  });
  if (!versions || versions.some((v) => v === undefined) || !ascending(versions as RingVersion[])) {
    throw new BackendMisconfiguredError(`${WHAT} ${path} is malformed`);
  }
  return { versions: versions as RingVersion[], stamp: read.stamp };
}

export function writeRing(path: string, versions: readonly RingVersion[]): Promise<void> {
  return writeJsonFile(
    path,
    { format: FORMAT, versions: versions.map((v) => ({ version: v.version, kek: v.kek.toString('base64') })) },
    WHAT,
  );
}
