import { randomBytes } from 'node:crypto';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';

/** One KEK in the keyring. `id` is random, so a key_id is never reused, even for a recreated file. */
export interface KeyringEntry {
  readonly version: number;
  readonly id: string;
  readonly createdAt: string;
  readonly material: Buffer;
  /** Two-phase rotation: unwraps, but is not current until promoted (`kleidi rotate --promote`). */
  readonly staged?: true;
}

/**
 * Versions in ascending order. The current one is the newest that is not
 * staged; a staged entry, if any, is the last one (only one at a time).
 */
export interface Keyring {
  readonly entries: readonly KeyringEntry[];
}

const KIND = 'kleidi-keyring';
/**
 * Format 1: every entry live, the last one current (what every kleidi reads).
 * Format 2: the same plus `"state": "staged"` on the last entry. It is written
 * only while an entry is staged, so a kleidi that knows format 1 only refuses
 * the file ("upgrade kleidi") instead of taking the staged entry for current
 * (ADR 0021); once promoted the file is format 1 again.
 */
const FORMAT_LIVE = 1;
const FORMAT_STAGED = 2;
const AES_256_KEY_BYTES = 32;
const ID_BYTES = 8;

/** A new KEK one version above the newest (staged or not). */
export function nextEntry(keyring: Keyring | undefined, now: Date, opts: { staged?: boolean } = {}): KeyringEntry {
  const last = keyring?.entries.at(-1);
  return {
    version: (last?.version ?? 0) + 1,
    id: randomBytes(ID_BYTES).toString('hex'),
    createdAt: now.toISOString(),
    material: randomBytes(AES_256_KEY_BYTES),
    ...(opts.staged ? { staged: true as const } : {}),
  };
}

/** The version new wraps use: the newest entry that is not staged. */
export function currentEntry(keyring: Keyring): KeyringEntry | undefined {
  return keyring.entries.findLast((e) => !e.staged);
}

/** The staged entry, if one is. */
export function stagedEntry(keyring: Keyring): KeyringEntry | undefined {
  return keyring.entries.find((e) => e.staged);
}

export function serializeKeyring(keyring: Keyring): string {
  const keys = keyring.entries.map((e) => ({
    version: e.version,
    id: e.id,
    createdAt: e.createdAt,
    material: e.material.toString('base64'),
    ...(e.staged ? { state: 'staged' } : {}),
  }));
  const format = keyring.entries.some((e) => e.staged) ? FORMAT_STAGED : FORMAT_LIVE;
  return `${JSON.stringify({ kind: KIND, format, keys }, null, 2)}\n`;
}

/** Parses and checks every field; anything unexpected means a corrupt file, except a newer format. */
export function parseKeyringJson(text: string, path: string): Keyring {
  const corrupt = (why: string) =>
    new BackendMisconfiguredError(`keyring file ${path} is corrupt (${why}); restore it from backup`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw corrupt('not valid JSON');
  }
  if (isRecord(doc) && doc.kind === KIND && Number.isSafeInteger(doc.format) && Number(doc.format) > FORMAT_STAGED) {
    // Written by a newer kleidi (a rotate on another node, a rollback of the
    // binary). The file is likely fine and may hold KEKs that no backup has:
    // restoring one could lose the data under them, so say what to do instead.
    throw new BackendMisconfiguredError(
      `keyring file ${path} has format ${String(doc.format)}, newer than this kleidi supports (format ${FORMAT_STAGED}); ` +
        'upgrade kleidi',
    );
  }
  const format = isRecord(doc) ? doc.format : undefined;
  if (
    !isRecord(doc) ||
    doc.kind !== KIND ||
    (format !== FORMAT_LIVE && format !== FORMAT_STAGED) ||
    !Array.isArray(doc.keys)
  ) {
    throw corrupt(`not a ${KIND} format ${FORMAT_LIVE} or ${FORMAT_STAGED} document`);
  }
  const entries = doc.keys.map((k: unknown, i: number): KeyringEntry => {
    if (!isRecord(k) || typeof k.version !== 'number' || !Number.isSafeInteger(k.version) || k.version < 1) {
      throw corrupt(`key ${i} has no valid version`);
    }
    if (typeof k.id !== 'string' || !/^[0-9a-f]{16}$/.test(k.id)) throw corrupt(`key ${i} has no valid id`);
    if (typeof k.createdAt !== 'string' || Number.isNaN(Date.parse(k.createdAt))) {
      throw corrupt(`key ${i} has no valid createdAt`);
    }
    const material = typeof k.material === 'string' ? Buffer.from(k.material, 'base64') : Buffer.alloc(0);
    if (material.length !== AES_256_KEY_BYTES) throw corrupt(`key ${i} is not a 256-bit key`);
    // Format 1 has no state: a state there was not written by kleidi.
    if (k.state !== undefined && (format !== FORMAT_STAGED || k.state !== 'staged')) {
      throw corrupt(`key ${i} has an unknown state`);
    }
    return { version: k.version, id: k.id, createdAt: k.createdAt, material, ...(k.state ? { staged: true } : {}) };
  });
  if (entries.length === 0) throw corrupt('no keys');
  entries.forEach((e, i) => {
    if (i > 0 && e.version <= (entries[i - 1]?.version ?? 0)) throw corrupt('versions are not ascending');
  });
  if (new Set(entries.map((e) => e.id)).size !== entries.length) throw corrupt('duplicate key ids');
  const staged = entries.filter((e) => e.staged);
  if (format === FORMAT_STAGED && (staged.length !== 1 || !entries.at(-1)?.staged || entries.length < 2)) {
    throw corrupt('a format 2 keyring holds exactly one staged key, the newest, above a current one');
  }
  return { entries };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
