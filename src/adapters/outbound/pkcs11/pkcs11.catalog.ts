import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { KeyVersionInfo } from '../../../domain/model/key-version.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import type { ObjectHandle } from './pkcs11.gcm.js';
import { kekKeyId, refusedMessage, type FoundKey, type KekEntry } from './pkcs11.keys.js';
import { NO_MARKS, type Marks } from './pkcs11.marks.js';

/** A key_id we have not seen triggers at most one token scan per this interval (flood guard). */
const MISS_RESCAN_MS = 1_000;

/**
 * The KEK versions on the token, with their key check values. Rebuilt from
 * the token on every scan, so a version added by `kleidi rotate`, by another
 * node of a network HSM or by a restored token copy is seen on the next scan.
 * Handles belong to one connection; a reconnect starts a new catalog.
 */
export class KeyCatalog {
  private entries: readonly KekEntry[] = [];
  private marks: Marks = NO_MARKS;
  private scanning: Promise<readonly KekEntry[]> | undefined;
  private scannedAt = Number.NEGATIVE_INFINITY;
  private readonly reported = new Set<string>();

  constructor(
    private readonly label: string,
    private readonly list: (onSkip: (why: string) => void) => { keys: FoundKey[]; marks: Marks },
    private readonly checkValue: (key: ObjectHandle) => Promise<string>,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Re-reads every version from the token. Concurrent callers share one scan. */
  scan(): Promise<readonly KekEntry[]> {
    this.scanning ??= this.rescan().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  /**
   * A scan that starts after this call, so it sees every object created
   * before it (read-after-write). `scan` may join a scan already under way,
   * whose object list was taken before the caller's write.
   */
  scanAfterWrite(): Promise<readonly KekEntry[]> {
    const inFlight = this.scanning;
    if (!inFlight) return this.scan();
    return inFlight.then(
      () => this.scan(),
      () => this.scan(),
    );
  }

  /** The entry behind a key_id, rescanning (rate-limited) when it is not known yet. */
  async find(keyId: string): Promise<KekEntry | undefined> {
    const known = this.entries.find((e) => e.keyId === keyId);
    if (known || this.clock.monotonic() - this.scannedAt < MISS_RESCAN_MS) return known;
    return (await this.scan()).find((e) => e.keyId === keyId);
  }

  /** The lifecycle marks the last scan found (staged versions, retired keys). */
  lastMarks(): Marks {
    return this.marks;
  }

  /** Forgets handles after the token said one of them is stale. */
  invalidate(): void {
    this.entries = [];
    this.scannedAt = Number.NEGATIVE_INFINITY;
  }

  private async rescan(): Promise<readonly KekEntry[]> {
    const { keys, marks } = this.list((why) => this.reportOnce(why));
    const entries = await Promise.all(
      keys.map(async (f): Promise<KekEntry> => {
        const kcv = await this.checkValue(f.handle);
        for (const w of f.warnings) this.reportOnce(`key '${this.label}' v${f.version}: ${w}`);
        if (f.refusal) this.reportOnce(refusedMessage(this.label, f.version, f.refusal));
        const keyId = kekKeyId(this.label, f.version, kcv);
        const state = marks.retired.has(keyId) ? 'retired' : marks.staged.has(f.version) ? 'staged' : undefined;
        return { ...f, kcv, keyId, ...(state ? { state } : {}) };
      }),
    );
    this.entries = entries.sort((a, b) => a.version - b.version);
    this.marks = marks;
    this.scannedAt = this.clock.monotonic();
    return this.entries;
  }

  private reportOnce(why: string): void {
    if (this.reported.has(why)) return;
    this.reported.add(why);
    this.log.warn({ keyLabel: this.label }, `PKCS#11 key inventory: ${why}`);
  }
}

/**
 * The version new wraps use: the pinned one, else the highest that is neither
 * staged nor retired (ADR 0021). A version held
 * by two objects with different check values (two nodes ran `kleidi init` on
 * one network HSM at once) is refused rather than guessed. A refused key
 * (pkcs11.keys.ts judgeKey) is reported, never skipped for an older version:
 * falling back would make nodes disagree about the current key.
 */
export function selectCurrent(entries: readonly KekEntry[], label: string, pinned?: number): KekEntry {
  if (entries.length === 0) {
    throw new BackendMisconfiguredError(
      `no key-encryption key labelled '${label}' on the token: run 'kleidi init' once, then give every node the same token (docs/backends/pkcs11.md)`,
    );
  }
  const live = entries.filter((e) => e.state === undefined);
  if (pinned === undefined && live.length === 0) {
    throw new BackendMisconfiguredError(
      `every key labelled '${label}' is staged or retired; promote the staged one (kleidi rotate --promote)`,
    );
  }
  const version = pinned ?? Math.max(...live.map((e) => e.version));
  const candidates = distinct(entries.filter((e) => e.version === version));
  const first = candidates[0];
  if (first === undefined) {
    throw new BackendMisconfiguredError(`the pinned key version v${version} of '${label}' is not on the token`);
  }
  if (first.state === 'retired') {
    throw new BackendMisconfiguredError(`the pinned key version v${version} of '${label}' is retired`);
  }
  if (candidates.length > 1) {
    throw new BackendMisconfiguredError(
      `${candidates.length} different keys are labelled '${label}' v${version}; run 'kleidi rotate' to add a new version`,
    );
  }
  if (first.refusal) throw new BackendMisconfiguredError(refusedMessage(label, version, first.refusal));
  return first;
}

/** What `kleidi keys` shows: ids, versions and notes, never key material. */
export function describeVersions(entries: readonly KekEntry[], current: KekEntry | undefined): KeyVersionInfo[] {
  const unique = distinct(entries);
  return unique.map((e) => {
    const twins = unique.filter((o) => o.version === e.version).length;
    const isCurrent = e.keyId === current?.keyId;
    // `retired` alone: the key serves nothing any more, whatever else could be said of it.
    if (e.state === 'retired') return { keyId: e.keyId, version: e.version, current: false, note: 'retired' };
    const notes = [
      ...(e.state === 'staged' ? ['staged'] : []),
      ...(e.refusal ? [`refused: ${e.refusal.why} (accepted only with pkcs11.${e.refusal.setting})`] : []),
      ...(isCurrent || e.refusal || e.state ? [] : ['decrypt-only']),
      ...(twins > 1 ? [`ambiguous: ${twins} different keys carry v${e.version}`] : []),
      ...e.warnings,
      ...(e.notes ?? []),
    ];
    const info: KeyVersionInfo = { keyId: e.keyId, version: e.version, current: isCurrent };
    return notes.length > 0 ? { ...info, note: notes.join('; ') } : info;
  });
}

/** One entry per key_id: copies of the same key (same check value) are the same key. */
function distinct(entries: readonly KekEntry[]): KekEntry[] {
  const byId = new Map<string, KekEntry>();
  for (const e of entries) if (!byId.has(e.keyId)) byId.set(e.keyId, e);
  return [...byId.values()];
}
