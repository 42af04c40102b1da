import { resourceKeyPrefix, resourceOfKey } from '../model/etcd-key.js';
import type { KeyVersionInfo } from '../model/key-version.js';
import { classifyStoredValue, type StoredEncoding } from '../model/stored-value.js';
import type { KeyIdUsage, ResourceUsage, UsageCell, UsageReport } from '../model/usage.js';
import type { StoredObjectSource } from '../../ports/outbound/stored-objects.port.js';

export interface UsageScanOptions {
  readonly prefix: string;
  /** Only these resources (as resourceOfKey names them); all when empty. */
  readonly resources: readonly string[];
  readonly pageSize: number;
  readonly maxKeysPerSecond: number;
  /** kleidi's key versions, to name the version behind each key_id; none when the backend was not opened. */
  readonly versions?: readonly KeyVersionInfo[];
  /** Called after each page with the running count and the revision the scan reads at. */
  readonly onProgress?: (scanned: number, revision: number) => void;
  readonly monotonic: () => number;
  /** Wall-clock time, for the report's `scannedAt`. */
  readonly now: () => Date;
}

/**
 * `kleidi usage`: which providers and key_ids the stored objects depend on.
 * Memory is bounded by the number of distinct (resource, provider, key_id)
 * cells, never by the number of objects: each page is counted and dropped.
 */
export async function scanUsage(
  source: StoredObjectSource,
  opts: UsageScanOptions,
  signal: AbortSignal,
): Promise<UsageReport> {
  const started = opts.monotonic();
  const scannedAt = opts.now().toISOString();
  const wanted = new Set(opts.resources);
  const byResource = new Map<string, Map<string, { encoding: StoredEncoding; count: number }>>();
  let scanned = 0;
  let revision = 0;
  // Only the asked-for resources' key ranges are read, all at the revision of the first page.
  const ranges =
    opts.resources.length === 0 ? [opts.prefix] : opts.resources.map((r) => resourceKeyPrefix(opts.prefix, r));
  for (const range of ranges)
    for await (const page of source.pages(range, { ...opts, revision }, signal)) {
      revision = page.revision;
      for (const obj of page.objects) {
        const resource = resourceOfKey(opts.prefix, obj.key) ?? '(outside any resource)';
        if (wanted.size > 0 && !wanted.has(resource)) continue;
        scanned++;
        const encoding = classifyStoredValue(obj.value);
        const cells = byResource.get(resource) ?? new Map<string, { encoding: StoredEncoding; count: number }>();
        byResource.set(resource, cells);
        const id = cellId(encoding);
        const cell = cells.get(id);
        if (cell) cell.count++;
        else cells.set(id, { encoding, count: 1 });
      }
      opts.onProgress?.(scanned, revision);
    }
  const versionOf = new Map((opts.versions ?? []).map((v) => [v.keyId as string, v]));
  const resources: ResourceUsage[] = [...byResource.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([resource, cells]) => {
      const list = [...cells.values()].map(({ encoding, count }) => toCell(encoding, count, versionOf));
      list.sort((a, b) => b.count - a.count || String(a.keyId ?? a.kind).localeCompare(String(b.keyId ?? b.kind)));
      return { resource, total: list.reduce((n, c) => n + c.count, 0), cells: list };
    });
  const keyIds = new Map<string, { provider: string; keyId: string; count: number }>();
  for (const r of resources) {
    for (const c of r.cells) {
      if (c.kind !== 'kms-v2' || c.keyId === undefined || c.provider === undefined) continue;
      const id = `${c.provider}\0${c.keyId}`;
      const k = keyIds.get(id) ?? { provider: c.provider, keyId: c.keyId, count: 0 };
      k.count += c.count;
      keyIds.set(id, k);
    }
  }
  const used = new Set([...keyIds.values()].map((k) => k.keyId));
  return {
    prefix: opts.prefix,
    scannedAt,
    onlyResources: [...opts.resources],
    revision,
    scanned,
    elapsedMs: Math.round(opts.monotonic() - started),
    resources,
    keyIds: [...keyIds.values()]
      .map((k) => ({ ...k, ...versionFields(versionOf.get(k.keyId)) }))
      .sort(byVersionThenKeyId),
    unusedVersions: (opts.versions ?? [])
      .filter((v) => !used.has(v.keyId))
      .map((v) => ({ version: v.version, keyId: v.keyId, current: v.current })),
  };
}

/** kleidi's versions first, oldest first; then key_ids kleidi does not know (another provider's), by name. */
function byVersionThenKeyId(a: KeyIdUsage, b: KeyIdUsage): number {
  const va = a.version ?? Number.MAX_SAFE_INTEGER;
  const vb = b.version ?? Number.MAX_SAFE_INTEGER;
  return va - vb || a.keyId.localeCompare(b.keyId);
}

function cellId(e: StoredEncoding): string {
  switch (e.kind) {
    case 'kms-v2':
      return `${e.kind}\0${e.provider}\0${e.keyId}`;
    case 'identity':
      return e.kind;
    case 'unknown':
      return `${e.kind}\0${e.reason}`;
    default:
      return `${e.kind}\0${e.provider}`;
  }
}

function toCell(e: StoredEncoding, count: number, versionOf: ReadonlyMap<string, KeyVersionInfo>): UsageCell {
  switch (e.kind) {
    case 'kms-v2':
      return { kind: e.kind, provider: e.provider, keyId: e.keyId, ...versionFields(versionOf.get(e.keyId)), count };
    case 'identity':
      return { kind: e.kind, count };
    case 'unknown':
      return { kind: e.kind, reason: e.reason, count };
    default:
      return { kind: e.kind, provider: e.provider, count };
  }
}

function versionFields(v: KeyVersionInfo | undefined): { version?: number; current?: boolean } {
  return v ? { version: v.version, current: v.current } : {};
}
