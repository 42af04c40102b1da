import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { ScanEvidence } from '../../../domain/model/retire-decision.js';
import type { KeyIdUsage, UsageCell } from '../../../domain/model/usage.js';

/** A usage report holds counts per cell, not per object: even a huge cluster's is well under this. */
const MAX_BYTES = 16 * 1024 * 1024;
const KINDS: ReadonlySet<string> = new Set([
  'kms-v2',
  'kms-v1',
  'aescbc',
  'aesgcm',
  'secretbox',
  'identity',
  'unknown',
]);

/** Why a file cannot serve as `kleidi retire --scan`: the message names the file and what is wrong. */
export class SavedScanError extends Error {}

/**
 * Reads `kleidi usage --output json` from `file` for `kleidi retire --scan`.
 * Only the shape is checked here; whether the scan is proof (its time, its
 * scope) is the retire decision's. SECURITY: the report is not secret, but it
 * is the evidence that lets a key be retired, so it is trusted like a CA file
 * (adapters/outbound/shared/secret-file.ts, readTrustedFile): opened without
 * following a link, and on that descriptor a regular file that neither group
 * nor others may write, owned by the caller or root.
 */
export async function readSavedScan(file: string): Promise<ScanEvidence> {
  let text: string;
  try {
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new SavedScanError(`${file} is not a regular file`);
      if ((st.mode & 0o022) !== 0) {
        const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
        throw new SavedScanError(`${file} has mode ${mode}; a scan others may write proves nothing (chmod go-w)`);
      }
      const uid = process.geteuid?.() ?? st.uid;
      if (st.uid !== uid && st.uid !== 0) {
        throw new SavedScanError(`${file} belongs to uid ${st.uid}, neither you (uid ${uid}) nor root`);
      }
      if (st.size > MAX_BYTES) throw new SavedScanError(`${file} is ${st.size} bytes, larger than any usage report`);
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof SavedScanError) throw err;
    throw new SavedScanError(`cannot read the saved scan ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SavedScanError(`${file} is not JSON; save a scan with \`kleidi usage --output json > ${file}\``);
  }
  const problem = reportProblem(json);
  if (problem !== undefined) {
    throw new SavedScanError(`${file} is not a \`kleidi usage --output json\` report: ${problem}`);
  }
  return json as ScanEvidence;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const optStr = (v: unknown) => v === undefined || typeof v === 'string';

/** The first thing wrong with `v` as a usage report, or undefined. */
function reportProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'not an object';
  if (typeof v.prefix !== 'string') return '`prefix` is missing';
  for (const n of ['revision', 'scanned', 'elapsedMs'] as const) if (!isCount(v[n])) return `\`${n}\` is not a count`;
  if (!optStr(v.scannedAt)) return '`scannedAt` is not a string';
  if (
    v.onlyResources !== undefined &&
    !(Array.isArray(v.onlyResources) && v.onlyResources.every((r) => typeof r === 'string'))
  )
    return '`onlyResources` is not a list of names';
  if (!Array.isArray(v.resources)) return '`resources` is not a list';
  for (const r of v.resources as unknown[]) {
    const p = resourceProblem(r);
    if (p !== undefined) return p;
  }
  if (!Array.isArray(v.keyIds) || !(v.keyIds as unknown[]).every(isKeyIdUsage))
    return '`keyIds` is not a list of key ids';
  if (!Array.isArray(v.unusedVersions)) return '`unusedVersions` is not a list';
  return undefined;
}

function resourceProblem(r: unknown): string | undefined {
  if (!isObj(r) || typeof r.resource !== 'string' || !isCount(r.total) || !Array.isArray(r.cells))
    return 'an entry of `resources` is not a resource';
  const cells = r.cells as unknown[];
  if (!cells.every(isCell)) return `a cell of resource ${JSON.stringify(r.resource)} is not a count of objects`;
  return undefined;
}

function isCell(c: unknown): c is UsageCell {
  if (!isObj(c) || typeof c.kind !== 'string' || !KINDS.has(c.kind) || !isCount(c.count)) return false;
  // A KMSv2 cell without its key_id could hide objects under the version being retired.
  if (c.kind === 'kms-v2' && typeof c.keyId !== 'string') return false;
  return optStr(c.provider) && optStr(c.keyId) && optStr(c.reason);
}

function isKeyIdUsage(k: unknown): k is KeyIdUsage {
  return isObj(k) && typeof k.keyId === 'string' && typeof k.provider === 'string' && isCount(k.count);
}
