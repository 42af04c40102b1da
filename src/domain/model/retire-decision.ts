import type { KeyVersionInfo, RetiredVersion } from './key-version.js';
import type { UsageReport } from './usage.js';

/**
 * `kleidi retire VERSION`: whether a KEK version may be retired, judged from
 * the backend's key list and a usage scan of etcd (docs/adr/0023-retire-gated-by-a-fresh-scan.md).
 * Pure: the caller lists the keys, scans (or loads a saved scan) and passes the clock.
 */
export interface RetireQuestion {
  /** The backend's versions, as KeyAdmin.list returns them. */
  readonly keys: readonly KeyVersionInfo[];
  readonly version: number;
  /** The usage scan that is to prove the version holds nothing; undefined when there is none. */
  readonly scan: ScanEvidence | undefined;
  readonly now: Date;
  /** The oldest a scan may be, measured from its `scannedAt`. */
  readonly maxScanAgeMs: number;
  /** The operator accepts losing the objects the scan shows may depend on the version. */
  readonly force: boolean;
  /** The backend retires oldest first (KeyAdmin.retireInOrder): older live versions must go first. */
  readonly retireInOrder: boolean;
  /** The key_ids running plugins report as current in Status (`--socket`), where asked. */
  readonly serving?: readonly ServingKey[];
}

/** What one running plugin answered in Status: the key_id its apiserver writes new objects under. */
export interface ServingKey {
  /** The plugin's socket. */
  readonly where: string;
  readonly keyId: string;
}

/**
 * A usage report as a fresh scan makes it, or as a saved one was read: a file
 * written by an older kleidi lacks the time and the scope, which the decision
 * then refuses rather than guesses.
 */
export type ScanEvidence = Omit<UsageReport, 'scannedAt' | 'onlyResources'> &
  Partial<Pick<UsageReport, 'scannedAt' | 'onlyResources'>>;

/** How many objects of one resource, stored one way. */
interface ResourceCount {
  readonly resource: string;
  readonly count: number;
  /** For objects the scan could not attribute: why (never their bytes). */
  readonly reason?: string;
}

/** One reason not to retire. `--force` overrides exactly the kinds in FORCE_OVERRIDES. */
export type RetireRefusal =
  | { readonly kind: 'unknown-version' }
  | { readonly kind: 'current' }
  | { readonly kind: 'staged' }
  | { readonly kind: 'retired' }
  /** retireInOrder: these older versions are still live and must be retired first. */
  | { readonly kind: 'older-live'; readonly versions: readonly number[] }
  /**
   * A running plugin still reports the version, an older one, or a key_id the
   * backend does not list (`version` absent) as current: its apiserver may still
   * write under it.
   */
  | { readonly kind: 'plugin-behind'; readonly where: string; readonly keyId: string; readonly version?: number }
  | { readonly kind: 'no-scan' }
  /** A saved scan without `scannedAt` (made by a kleidi before it recorded the time). */
  | { readonly kind: 'scan-undated' }
  | { readonly kind: 'scan-too-old'; readonly ageMs: number; readonly maxAgeMs: number }
  /** `scannedAt` is later than now by more than clock skew explains. */
  | { readonly kind: 'scan-in-future'; readonly aheadMs: number }
  /** Restricted with --resources: objects of the resources it did not read are unknown. */
  | { readonly kind: 'scan-partial'; readonly onlyResources: readonly string[] }
  /** Objects stored under the version's key_id, per resource, in the scan. */
  | {
      readonly kind: 'objects-remaining';
      readonly keyId: string;
      readonly count: number;
      readonly resources: readonly ResourceCount[];
    }
  /** Objects whose key_id the scan could not read (kind `unknown`): any of them may be under the version. */
  | { readonly kind: 'unattributed'; readonly count: number; readonly resources: readonly ResourceCount[] }
  /** Not one object under any of the backend's key_ids: most likely the wrong etcd or --etcd-prefix. */
  | { readonly kind: 'no-kleidi-data'; readonly scanned: number; readonly prefix: string };

export type RetireRefusalKind = RetireRefusal['kind'];

/**
 * What `--force` may override: the objects the scan shows might depend on the
 * version, which the operator can see and accept to lose. Never the key's
 * state (the backend refuses those anyway) nor whether the scan is proof at
 * all (missing, undated, too old, from the future, partial, or of a store
 * holding nothing under any of the backend's key_ids: the wrong etcd or
 * prefix, where every other check passes trivially).
 */
export const FORCE_OVERRIDES: ReadonlySet<RetireRefusalKind> = new Set(['objects-remaining', 'unattributed']);

export type RetireDecision =
  /** `overridden`: the refusals `--force` set aside (empty without --force). */
  | { readonly allowed: true; readonly target: KeyVersionInfo; readonly overridden: readonly RetireRefusal[] }
  | { readonly allowed: false; readonly target?: KeyVersionInfo; readonly refusals: readonly RetireRefusal[] };

/** What `kleidi retire` did, or why it did not. */
export interface RetireOutcome {
  readonly backend: string;
  readonly decision: RetireDecision;
  /** The scan the decision was made on; absent when the key list alone refused. */
  readonly scan?: ScanEvidence;
  /** What the backend did; only when the decision allowed it. */
  readonly retired?: RetiredVersion;
}

/** A saved scan's clock may run this far ahead of ours (two hosts' NTP-synchronised clocks). */
export const CLOCK_SKEW_MS = 60_000;

export function decideRetire(q: RetireQuestion): RetireDecision {
  const target = q.keys.find((k) => k.version === q.version);
  const refusals = [...keyRefusals(q), ...scanRefusals(q, target)];
  const blocking = refusals.filter((r) => !(q.force && FORCE_OVERRIDES.has(r.kind)));
  if (target === undefined || blocking.length > 0) {
    return { allowed: false, ...(target ? { target } : {}), refusals };
  }
  return { allowed: true, target, overridden: refusals };
}

/** The refusals the key list alone decides, before any scan is worth running. */
export function keyRefusals(
  q: Pick<RetireQuestion, 'keys' | 'version' | 'retireInOrder' | 'serving'>,
): RetireRefusal[] {
  const target = q.keys.find((k) => k.version === q.version);
  if (target === undefined) return [{ kind: 'unknown-version' }];
  if (target.current) return [{ kind: 'current' }];
  if (hasNote(target, 'staged')) return [{ kind: 'staged' }];
  if (hasNote(target, 'retired')) return [{ kind: 'retired' }];
  const out: RetireRefusal[] = [];
  if (q.retireInOrder) {
    const older = q.keys.filter((k) => k.version < target.version && !hasNote(k, 'retired')).map((k) => k.version);
    if (older.length > 0) out.push({ kind: 'older-live', versions: older });
  }
  for (const s of q.serving ?? []) {
    const v = q.keys.find((k) => k.keyId === s.keyId)?.version;
    if (v === undefined || v <= target.version)
      out.push({ kind: 'plugin-behind', ...s, ...(v === undefined ? {} : { version: v }) });
  }
  return out;
}

function scanRefusals(q: RetireQuestion, target: KeyVersionInfo | undefined): RetireRefusal[] {
  const scan = q.scan;
  if (scan === undefined) return [{ kind: 'no-scan' }];
  const out: RetireRefusal[] = [];
  const taken = Date.parse(scan.scannedAt ?? '');
  if (Number.isNaN(taken)) out.push({ kind: 'scan-undated' });
  else {
    const ageMs = q.now.getTime() - taken;
    if (ageMs > q.maxScanAgeMs) out.push({ kind: 'scan-too-old', ageMs, maxAgeMs: q.maxScanAgeMs });
    if (-ageMs > CLOCK_SKEW_MS) out.push({ kind: 'scan-in-future', aheadMs: -ageMs });
  }
  // A report without the field cannot say it read everything: treated like a restricted one.
  const only = scan.onlyResources ?? ['(not recorded)'];
  if (only.length > 0) out.push({ kind: 'scan-partial', onlyResources: only });

  const under: ResourceCount[] = [];
  const unattributed: ResourceCount[] = [];
  for (const r of scan.resources) {
    let n = 0;
    for (const c of r.cells) {
      // Matched on the key_id alone: whatever provider name the EncryptionConfiguration gave it.
      if (target !== undefined && c.kind === 'kms-v2' && c.keyId === target.keyId) n += c.count;
      if (c.kind === 'unknown') unattributed.push({ resource: r.resource, count: c.count, reason: c.reason ?? '' });
    }
    if (n > 0) under.push({ resource: r.resource, count: n });
  }
  if (target !== undefined && under.length > 0) {
    out.push({ kind: 'objects-remaining', keyId: target.keyId, count: sum(under), resources: under });
  }
  if (unattributed.length > 0) out.push({ kind: 'unattributed', count: sum(unattributed), resources: unattributed });
  const ours = new Set(q.keys.map((k) => k.keyId as string));
  if (!scan.keyIds.some((k) => ours.has(k.keyId) && k.count > 0)) {
    out.push({ kind: 'no-kleidi-data', scanned: scan.scanned, prefix: scan.prefix });
  }
  return out;
}

const sum = (xs: readonly ResourceCount[]): number => xs.reduce((n, x) => n + x.count, 0);

/**
 * Whether a listed version carries `note` among its notes: a backend may join several with "; "
 * (pkcs11: "staged; ambiguous …"), so the text is split, never compared whole.
 */
function hasNote(k: KeyVersionInfo, note: string): boolean {
  return k.note?.split('; ').includes(note) ?? false;
}
