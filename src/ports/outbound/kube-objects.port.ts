import type { KubeObject, KubeResource, ObjectName, ObjectPage } from '../../domain/model/reencrypt.js';

/**
 * The objects of a cluster as kube-apiserver serves them, for `kleidi
 * reencrypt` (ADR 0019). Implementations are verified against a real
 * kube-apiserver (test/e2e).
 *
 * Contract:
 * - `list` returns one page of names in list order (etcd key order: see
 *   orderKey), at most `limit`; the next page is asked for with the page's
 *   `continueToken`. An expired token rejects with KubeApiError 'expired'.
 * - `get` returns the object as stored, with its resourceVersion; `replace`
 *   writes exactly that object back (an update with the same resourceVersion,
 *   so the apiserver refuses it with 'conflict' when the object changed
 *   since). A missing object rejects with 'not-found'.
 * - Every failure rejects with a KubeApiError whose `failure` sorts it
 *   (see KubeFailure); 'retryable' carries the Retry-After, when given, in ms.
 *   Nothing retries inside: the caller owns retries, pacing and backoff.
 * - An aborted signal rejects with its reason.
 */
export interface KubeObjectStore {
  /** The apiserver's URL, naming the cluster in the checkpoint. */
  readonly cluster: string;
  list(
    resource: KubeResource,
    page: { readonly limit: number; readonly continueToken?: string },
    signal: AbortSignal,
  ): Promise<ObjectPage>;
  get(resource: KubeResource, name: ObjectName, signal: AbortSignal): Promise<KubeObject>;
  replace(resource: KubeResource, name: ObjectName, obj: KubeObject, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}
