/**
 * `kleidi reencrypt` (ADR 0019): the objects it rewrites through kube-apiserver,
 * what can go wrong with one request, and the checkpoint a rerun resumes from.
 */

/** A resource as the operator names it: `secrets`, or group-qualified, `deployments.apps`. */
export interface KubeResource {
  /** As given on the command line; the checkpoint's key. */
  readonly name: string;
  /** `''` for the core group (/api/v1). */
  readonly group: string;
  /** The plural resource name of the API path (and, for the built-in resources, of the etcd key). */
  readonly resource: string;
}

/** `secrets` → core group; `deployments.apps` → group `apps`; the first dot splits, as kubectl does. */
export function parseKubeResource(name: string): KubeResource | undefined {
  const n = name.trim().toLowerCase();
  // A resource is a DNS label; a group is a DNS subdomain (Kubernetes API conventions).
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.([a-z0-9]([-a-z0-9.]*[a-z0-9])?))?$/.exec(n);
  if (!m?.[1]) return undefined;
  return { name: n, resource: m[1], group: m[4] ?? '' };
}

/** One object of a list: enough to GET it. Cluster-scoped objects have no namespace. */
export interface ObjectName {
  readonly namespace?: string;
  readonly name: string;
}

/**
 * The object's place in list order: kube-apiserver lists in etcd key order,
 * `<prefix>/<resource>/<namespace>/<name>`, so `namespace/name` compared as
 * bytes is that order (names are ASCII: DNS subdomains, so JS string order is byte order).
 */
export const orderKey = (o: ObjectName): string => (o.namespace ? `${o.namespace}/${o.name}` : o.name);

/** The display form of an object: `resource namespace/name`. */
export const objectLabel = (r: KubeResource, o: ObjectName): string => `${r.name} ${orderKey(o)}`;

/** An object as GET returned it: opaque to the domain, written back byte for byte. */
export interface KubeObject {
  readonly resourceVersion: string;
  readonly body: string;
}

/** One page of a list: names only, in list order. */
export interface ObjectPage {
  readonly items: readonly ObjectName[];
  /** The token of the next page; absent on the last page. */
  readonly continueToken?: string;
  /** How many objects follow this page, when the apiserver says (metadata.remainingItemCount). */
  readonly remaining?: number;
}

/**
 * What one API request ran into, as the re-encryption loop tells cases apart:
 * - conflict: 409, the object changed since it was read (re-read and retry);
 * - not-found: 404, deleted meanwhile (skip it);
 * - expired: 410 on a list, its continue token is too old (list again);
 * - retryable: 429, 5xx or the connection failed (back off, honour Retry-After);
 * - fatal: anything else (refused identity, invalid object, bad configuration).
 * Messages name the object and the status, never an object's content.
 */
export type KubeFailure = 'conflict' | 'not-found' | 'expired' | 'retryable' | 'fatal';

export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly failure: KubeFailure,
    message: string,
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The run gave up: the message says which object and why, and that a rerun resumes. */
export class ReencryptError extends Error {
  override readonly name = 'ReencryptError';
}

/** Progress of one resource, in the checkpoint and in the summary. */
export interface ResourceProgress {
  /** orderKey of the last object completed (rewritten or found deleted), in list order. */
  readonly after?: string;
  /** Every object of the resource was listed and done. */
  readonly done: boolean;
  /** Objects written back (this run and the ones before it that the checkpoint counts). */
  readonly rewritten: number;
  /** Objects deleted between the list and the write. */
  readonly deleted: number;
}

/**
 * The state file: per resource the last object completed, saved every few
 * objects, so a rerun after an interruption starts after it. `cluster` is the
 * apiserver's URL: a checkpoint of another cluster is never resumed.
 */
export interface ReencryptCheckpoint {
  readonly version: 1;
  readonly cluster: string;
  readonly resources: Readonly<Record<string, ResourceProgress>>;
  /** The whole run finished; a rerun starts over (after the next rotation, say). */
  readonly complete: boolean;
}

export interface ResourceSummary {
  readonly resource: string;
  /** Objects the list showed this run (including those the checkpoint had done). */
  readonly listed: number;
  /** Written back this run (dry run: would be written). */
  readonly rewritten: number;
  /** Found deleted between the list and the write, this run. */
  readonly deleted: number;
  /** Skipped: the checkpoint had done them in an earlier run. */
  readonly alreadyDone: number;
  /** 409 Conflicts answered by reading again. */
  readonly conflicts: number;
  /** 429/5xx/connection failures retried after a backoff. */
  readonly retries: number;
  /** Lists started again after a 410 Expired continue token. */
  readonly listRestarts: number;
  /** This resource is finished (false only when interrupted). */
  readonly done: boolean;
}

export interface ReencryptSummary {
  readonly cluster: string;
  readonly dryRun: boolean;
  /** Resumed from a checkpoint; `resumeNote` says why one was not used, when there was one. */
  readonly resumed: boolean;
  readonly resumeNote?: string;
  /** Stopped by the operator before the end; the checkpoint was saved. */
  readonly interrupted: boolean;
  readonly elapsedMs: number;
  /** Objects written (dry run: listed) per second this run. */
  readonly objectsPerSecond: number;
  readonly resources: readonly ResourceSummary[];
}

/** What the loop reports after each object (and each page in a dry run). */
export interface ReencryptProgress {
  readonly resource: string;
  /** 1-based index of `resource` among the resources of the run, and their number. */
  readonly resourceIndex: number;
  readonly resourceCount: number;
  /** Objects of `resource` passed so far in list order (handled or skipped as already done). */
  readonly position: number;
  /** Objects of `resource` in the list, when the apiserver said (remainingItemCount). */
  readonly total?: number;
  /** Objects handled this run (rewritten or deleted; dry run: counted), every resource so far. */
  readonly handled: number;
  readonly elapsedMs: number;
}

/**
 * The name `kleidi usage` gives the resource's etcd keys (resourceOfKey): the
 * built-in groups (the core group, the undotted ones such as `apps`, and the
 * `*.k8s.io` ones) store under `<prefix>/<resource>/`, other groups (custom
 * resources) under `<prefix>/<group>/<resource>/`, named `resource.group`.
 */
export function storedResourceName(r: KubeResource): string {
  if (r.group === '' || !r.group.includes('.') || r.group.endsWith('.k8s.io')) return r.resource;
  return `${r.resource}.${r.group}`;
}
