import type { StoredEncoding } from './stored-value.js';

/**
 * What `kleidi usage` reports: per resource, how its stored objects are
 * encrypted, and per KMSv2 key_id how many objects still depend on it.
 */

/** Objects of one resource stored one way: a provider and, for KMSv2, a key_id. */
export interface UsageCell {
  readonly kind: StoredEncoding['kind'];
  /** The provider name of the EncryptionConfiguration, for encrypted values. */
  readonly provider?: string;
  readonly keyId?: string;
  /** kleidi's version of that key_id, when the scan was given kleidi's key list and it is there. */
  readonly version?: number;
  readonly current?: boolean;
  /** For kind `unknown`: why, never the bytes. */
  readonly reason?: string;
  readonly count: number;
}

export interface ResourceUsage {
  readonly resource: string;
  readonly total: number;
  readonly cells: readonly UsageCell[];
}

/** A KMSv2 key_id and how many objects it still protects, across resources. */
export interface KeyIdUsage {
  readonly provider: string;
  readonly keyId: string;
  readonly count: number;
  readonly version?: number;
  readonly current?: boolean;
}

export interface UsageReport {
  readonly prefix: string;
  /**
   * ISO-8601 wall-clock time the scan started: no later than the snapshot the
   * counts describe, so an age computed from it is never too young.
   */
  readonly scannedAt: string;
  /** The resources the scan was restricted to (`--resources`); empty when it read every resource. */
  readonly onlyResources: readonly string[];
  /** The etcd revision every count was read at. */
  readonly revision: number;
  readonly scanned: number;
  readonly elapsedMs: number;
  readonly resources: readonly ResourceUsage[];
  readonly keyIds: readonly KeyIdUsage[];
  /** kleidi key versions (from the backend's list) under which no scanned object is stored. */
  readonly unusedVersions: readonly { readonly version: number; readonly keyId: string; readonly current: boolean }[];
}
