import { InvalidRequestError, OperationUnsupportedError } from '../model/errors.js';
import type { KeyVersionInfo } from '../model/key-version.js';
import {
  decideRetire,
  keyRefusals,
  type RetireOutcome,
  type ScanEvidence,
  type ServingKey,
} from '../model/retire-decision.js';
import type { KeyAdmin } from '../../ports/outbound/key-admin.port.js';

export interface RetireRun {
  readonly version: number;
  readonly force: boolean;
  readonly maxScanAgeMs: number;
  /** What running plugins report as current (`--socket`); none asked when empty. */
  readonly serving?: readonly ServingKey[];
  /** A fresh scan of etcd (given the key list, to name versions) or a saved one. */
  scan(keys: readonly KeyVersionInfo[]): Promise<ScanEvidence>;
  readonly now: () => Date;
}

/**
 * `kleidi retire`: lists the backend's versions, refuses at once what the list
 * alone refuses (unknown, current, staged, retired: no scan is worth its
 * minutes then), scans, decides, and only on an allowed decision asks the
 * backend to retire. The backend guards its own invariants again.
 */
export async function retireVersion(admin: KeyAdmin, run: RetireRun, signal: AbortSignal): Promise<RetireOutcome> {
  // A store that cannot retire one version (Delinea remote) says so before a scan costs minutes.
  if (!admin.retiring) {
    throw new OperationUnsupportedError(
      `the ${admin.backend} backend cannot retire one key version (docs/backends/${admin.backend}.md)`,
    );
  }
  const keys = await admin.list(signal);
  const q = { keys, version: run.version, retireInOrder: admin.retireInOrder, serving: run.serving ?? [] };
  const early = keyRefusals(q);
  if (early.length > 0) {
    const target = keys.find((k) => k.version === run.version);
    return { backend: admin.backend, decision: { allowed: false, ...(target ? { target } : {}), refusals: early } };
  }
  const scan = await run.scan(keys);
  const decision = decideRetire({ ...q, scan, now: run.now(), maxScanAgeMs: run.maxScanAgeMs, force: run.force });
  if (!decision.allowed) return { backend: admin.backend, decision, scan };
  // The scan may have run for minutes: the version must still be the key the scan cleared (a
  // keyring or token copied in meanwhile could hold another key under the same number).
  const now = (await admin.list(signal)).find((k) => k.version === run.version);
  if (now?.keyId !== decision.target.keyId) {
    throw new InvalidRequestError(
      `version ${run.version} changed during the scan (was ${decision.target.keyId}, now ${now?.keyId ?? 'gone'}); ` +
        'nothing retired: run kleidi retire again',
    );
  }
  const retired = await admin.retire(run.version, signal);
  return { backend: admin.backend, decision, scan, retired };
}
