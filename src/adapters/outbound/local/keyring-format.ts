import { randomBytes } from 'node:crypto';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';

/** One KEK in the keyring. `id` is random, so a key_id is never reused, even for a recreated file. */
export interface KeyringEntry {
  readonly version: number;
  readonly id: string;
  readonly createdAt: string;
  readonly material: Buffer;
}

/** Versions in ascending order; the last one is current. */
export interface Keyring {
  readonly entries: readonly KeyringEntry[];
}

const KIND = 'kleidi-keyring';
const FORMAT = 1;
const AES_256_KEY_BYTES = 32;
const ID_BYTES = 8;

/** A new KEK one version above the newest. */
export function nextEntry(keyring: Keyring | undefined, now: Date): KeyringEntry {
  const last = keyring?.entries.at(-1);
  return {
    version: (last?.version ?? 0) + 1,
    id: randomBytes(ID_BYTES).toString('hex'),
    createdAt: now.toISOString(),
    material: randomBytes(AES_256_KEY_BYTES),
  };
}

export function serializeKeyring(keyring: Keyring): string {
  const keys = keyring.entries.map((e) => ({
    version: e.version,
    id: e.id,
    createdAt: e.createdAt,
    material: e.material.toString('base64'),
  }));
  return `${JSON.stringify({ kind: KIND, format: FORMAT, keys }, null, 2)}\n`;
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
  if (isRecord(doc) && doc.kind === KIND && Number.isSafeInteger(doc.format) && Number(doc.format) > FORMAT) {
    // Written by a newer kleidi (a rotate on another node, a rollback of the
    // binary). The file is likely fine and may hold KEKs that no backup has:
    // restoring one could lose the data under them, so say what to do instead.
    throw new BackendMisconfiguredError(
      `keyring file ${path} has format ${String(doc.format)}, newer than this kleidi supports (format ${FORMAT}); ` +
        'upgrade kleidi',
    );
  }
  if (!isRecord(doc) || doc.kind !== KIND || doc.format !== FORMAT || !Array.isArray(doc.keys)) {
    throw corrupt(`not a ${KIND} format ${FORMAT} document`);
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
    return { version: k.version, id: k.id, createdAt: k.createdAt, material };
  });
  if (entries.length === 0) throw corrupt('no keys');
  entries.forEach((e, i) => {
    if (i > 0 && e.version <= (entries[i - 1]?.version ?? 0)) throw corrupt('versions are not ascending');
  });
  if (new Set(entries.map((e) => e.id)).size !== entries.length) throw corrupt('duplicate key ids');
  return { entries };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
