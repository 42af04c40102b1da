/** One object as kube-apiserver stored it: its etcd key and the raw value, never decrypted. */
interface StoredObject {
  readonly key: string;
  readonly value: Uint8Array;
}

/** One page of a scan, every page read at the same store revision. */
export interface StoredObjectPage {
  readonly objects: readonly StoredObject[];
  /** The store revision the whole scan reads at (etcd's header revision of the first page). */
  readonly revision: number;
}

/**
 * Read-only access to the objects kube-apiserver keeps in etcd, for `kleidi
 * usage`. Implementations are verified against a real etcd.
 *
 * Contract:
 * - `pages` yields every key below `prefix` once, in key order, in pages of at
 *   most `pageSize` objects, all read at the revision of the first page, so the
 *   counts are one consistent snapshot however long the scan takes; a
 *   revision compacted meanwhile rejects with BackendUnavailableError saying so.
 * - Nothing is ever written, leased or watched.
 * - It paces itself to at most `maxKeysPerSecond` keys a second, so a scan of a
 *   large store cannot starve the apiserver's own requests.
 * - Failures reject with a KmsError subclass (an unreachable or refusing store:
 *   BackendUnavailableError; bad certificates or a refused identity:
 *   BackendMisconfiguredError); an aborted signal rejects with its reason.
 */
export interface StoredObjectSource {
  pages(
    prefix: string,
    opts: {
      readonly pageSize: number;
      readonly maxKeysPerSecond: number;
      /** Read at this revision (several prefixes of one snapshot); 0 or absent: the newest. */
      readonly revision?: number;
    },
    signal: AbortSignal,
  ): AsyncIterable<StoredObjectPage>;
  close(): Promise<void>;
}
