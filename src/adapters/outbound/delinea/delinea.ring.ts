import { randomBytes } from 'node:crypto';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';

/**
 * kleidi's versioned KEK ring as stored in one Delinea secret field (kek-source mode). The
 * entries have the local keyring's fields (src/adapters/outbound/local/keyring-format.ts:
 * version, random id, createdAt, base64 material) under another `kind`, so a ring is never
 * mistaken for a keyring file. Unlike the keyring file, one malformed entry does not make the
 * ring unusable: it is set aside with its reason, and only its version fails
 * (docs/adr/0013-delinea-backend.md).
 */
const RING_KIND = 'kleidi-delinea-kek-ring';
const RING_FORMAT = 1;
const AES_256_KEY_BYTES = 32;
const ID_BYTES = 8;

export interface RingEntry {
  readonly version: number;
  readonly id: string;
  readonly createdAt: string;
  readonly material: Buffer;
}

/** An entry that could not be used, and why (never its content). */
interface BrokenEntry {
  /** Its version when that much could be read. */
  readonly version: number | undefined;
  readonly index: number;
  readonly reason: string;
}

export interface Ring {
  /** Usable entries, ascending version. */
  readonly entries: readonly RingEntry[];
  readonly broken: readonly BrokenEntry[];
  /** Every entry as stored, so a rotate keeps the ones it cannot read unchanged. */
  readonly raw: readonly unknown[];
  /** The highest version in the ring, usable or not. */
  readonly newest: number;
}

/** Parses a field value; undefined for an empty field (no `kleidi init` yet). */
export function parseRing(text: string, where: string): Ring | undefined {
  if (text.trim() === '') return undefined;
  const corrupt = (why: string) =>
    new BackendMisconfiguredError(`the KEK ring in ${where} is corrupt (${why}); restore the field from its history`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw corrupt('not valid JSON');
  }
  if (!isRecord(doc) || doc.kind !== RING_KIND || !Array.isArray(doc.keys)) throw corrupt(`not a ${RING_KIND}`);
  if (doc.format !== RING_FORMAT) {
    throw new BackendMisconfiguredError(
      `the KEK ring in ${where} has format ${String(doc.format)}; this kleidi reads format ${RING_FORMAT}`,
    );
  }
  const entries: RingEntry[] = [];
  const broken: BrokenEntry[] = [];
  const seenVersions = new Set<number>();
  const seenIds = new Set<string>();
  doc.keys.forEach((k: unknown, index: number) => {
    const version = isRecord(k) && isVersion(k.version) ? k.version : undefined;
    const why = entryProblem(k, version, seenVersions, seenIds);
    if (why) {
      broken.push({ version, index, reason: why });
    } else if (isRecord(k) && version !== undefined) {
      const e = {
        version,
        id: String(k.id),
        createdAt: String(k.createdAt),
        material: Buffer.from(String(k.material), 'base64'),
      };
      entries.push(e);
      seenIds.add(e.id);
    }
    if (version !== undefined) seenVersions.add(version);
  });
  if (doc.keys.length === 0) throw corrupt('no keys');
  entries.sort((a, b) => a.version - b.version);
  const newest = Math.max(0, ...seenVersions);
  return { entries, broken, raw: doc.keys as unknown[], newest };
}

function entryProblem(
  k: unknown,
  version: number | undefined,
  versions: Set<number>,
  ids: Set<string>,
): string | undefined {
  if (!isRecord(k)) return 'not an object';
  if (version === undefined) return 'no valid version';
  if (versions.has(version)) return `version ${version} appears twice`;
  if (typeof k.id !== 'string' || !/^[0-9a-f]{16}$/.test(k.id)) return 'no valid id';
  if (ids.has(k.id)) return 'duplicate id';
  if (typeof k.createdAt !== 'string' || Number.isNaN(Date.parse(k.createdAt))) return 'no valid createdAt';
  if (typeof k.material !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(k.material))
    return 'material is not a base64 256-bit key';
  return undefined;
}

/** A new KEK one version above the newest (usable or not). */
export function nextEntry(ring: Ring | undefined, now: Date): RingEntry {
  return {
    version: (ring?.newest ?? 0) + 1,
    id: randomBytes(ID_BYTES).toString('hex'),
    createdAt: now.toISOString(),
    material: randomBytes(AES_256_KEY_BYTES),
  };
}

/** The ring with `entry` appended; every stored entry (malformed ones too) is kept as it was. */
export function serializeRing(ring: Ring | undefined, entry: RingEntry): string {
  const keys = [
    ...(ring?.raw ?? []),
    { version: entry.version, id: entry.id, createdAt: entry.createdAt, material: entry.material.toString('base64') },
  ];
  return JSON.stringify({ kind: RING_KIND, format: RING_FORMAT, keys });
}

/** The ring without the entries (usable or malformed) of `version`; every other entry kept as stored. */
export function serializeRingWithout(ring: Ring, version: number): string {
  const keys = ring.raw.filter((k) => !(isRecord(k) && k.version === version));
  return JSON.stringify({ kind: RING_KIND, format: RING_FORMAT, keys });
}

function isVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
