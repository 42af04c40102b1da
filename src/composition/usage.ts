import type { UsageOutcome, UsageRequest } from '../adapters/inbound/cli/cli-app.js';
import { EtcdStoredObjects } from '../adapters/outbound/etcd/etcd-source.js';
import type { KeyVersionInfo } from '../domain/model/key-version.js';
import type { UsageReport } from '../domain/model/usage.js';
import { scanUsage } from '../domain/services/usage-scan.js';
import { withKeyAdmin } from './admin.js';
import type { Config } from './config/schema.js';

/**
 * `kleidi usage`: lists kleidi's key versions through the configured
 * backend's KeyAdmin (when asked; a backend that cannot be opened here only
 * leaves the versions out), then scans etcd read-only.
 */
export async function runUsage(
  config: Config,
  env: NodeJS.ProcessEnv,
  req: UsageRequest,
  signal: AbortSignal,
): Promise<UsageOutcome> {
  let versions: readonly KeyVersionInfo[] | undefined;
  let keysUnavailable: string | undefined;
  if (req.withKeys) {
    try {
      versions = await withKeyAdmin(config, env, (admin) => admin.list(signal));
    } catch (err) {
      keysUnavailable = err instanceof Error ? err.message : String(err);
    }
  }
  const report = await scanEtcd(req, versions, signal);
  return keysUnavailable === undefined ? { report } : { report, keysUnavailable };
}

/** One read-only scan of the etcd `req` names (`kleidi usage`, and `kleidi retire`'s fresh scan). */
export async function scanEtcd(
  req: Omit<UsageRequest, 'withKeys'>,
  versions: readonly KeyVersionInfo[] | undefined,
  signal: AbortSignal,
): Promise<UsageReport> {
  const source = new EtcdStoredObjects(req.etcd);
  try {
    return await scanUsage(
      source,
      {
        prefix: req.prefix,
        resources: req.resources,
        pageSize: req.pageSize,
        maxKeysPerSecond: req.maxKeysPerSecond,
        versions,
        onProgress: req.onProgress,
        monotonic: () => performance.now(),
        now: () => new Date(),
      },
      signal,
    );
  } finally {
    await source.close();
  }
}
