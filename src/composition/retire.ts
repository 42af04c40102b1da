import type { RetireRequest } from '../adapters/inbound/cli/cli-app.js';
import type { RetireOutcome } from '../domain/model/retire-decision.js';
import { retireVersion } from '../domain/services/retire-version.js';
import { withKeyAdmin } from './admin.js';
import type { Config } from './config/schema.js';
import { scanEtcd } from './usage.js';

/**
 * `kleidi retire VERSION`: the configured backend's KeyAdmin, and the scan
 * that gates it — a fresh one of etcd with `kleidi usage`'s settings, always
 * of every resource, or the saved one the CLI read (docs/adr/0023-retire-gated-by-a-fresh-scan.md).
 */
export function runRetire(
  config: Config,
  env: NodeJS.ProcessEnv,
  req: RetireRequest,
  signal: AbortSignal,
): Promise<RetireOutcome> {
  const from = req.scan;
  return withKeyAdmin(config, env, (admin) =>
    retireVersion(
      admin,
      {
        version: req.version,
        force: req.force,
        maxScanAgeMs: req.maxScanAgeMs,
        serving: req.serving,
        now: () => new Date(),
        scan: async (keys) => (from.saved ? from.report : scanEtcd({ ...from.etcd, resources: [] }, keys, signal)),
      },
      signal,
    ),
  );
}
