import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import {
  KubeApiError,
  type KubeObject,
  type KubeResource,
  type ObjectName,
  type ObjectPage,
} from '../../../domain/model/reencrypt.js';
import type { KubeObjectStore } from '../../../ports/outbound/kube-objects.port.js';
import type { Credential, KubeConnection } from './kubeconfig.js';

/** One request's deadline: a GET or PUT of one object, or a page of names, is far quicker. */
const REQUEST_TIMEOUT_MS = 30_000;
/** A page of names or one object; anything larger is not what was asked for. */
const MAX_BODY_BYTES = 64 << 20;
/**
 * Names only: a list as PartialObjectMetadataList (meta.k8s.io/v1, served since
 * Kubernetes 1.15) carries metadata, not the objects' data, so pages stay small
 * and no Secret value crosses the wire twice. An apiserver that does not know
 * it answers with the full list (the second type).
 */
const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json';
const USER_AGENT = 'kleidi-reencrypt';

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

interface Discovered {
  /** /api/v1 or /apis/<group>/<version>. */
  readonly base: string;
  readonly namespaced: boolean;
}

/**
 * kube-apiserver's REST API over node:https (ADR 0019: no client library),
 * with the kubeconfig's or the service account's credentials, one keep-alive
 * connection pool. Resources are found by discovery (their group's preferred
 * version), so `deployments.apps` lists /apis/apps/v1/deployments.
 */
export class KubeApiClient implements KubeObjectStore {
  readonly cluster: string;
  private readonly agent: HttpAgent;
  private readonly discovered = new Map<string, Discovered>();
  private constructor(
    private readonly conn: KubeConnection,
    private credential: Credential,
  ) {
    this.cluster = conn.server.origin + conn.server.pathname.replace(/\/$/, '');
    this.agent =
      conn.server.protocol === 'http:'
        ? new HttpAgent({ keepAlive: true, maxSockets: 2 })
        : new HttpsAgent({
            keepAlive: true,
            maxSockets: 2,
            ...(conn.ca === undefined ? {} : { ca: conn.ca }),
            // A client certificate (from the kubeconfig or an exec plugin) is bound to the pool.
            ...(credential.cert !== undefined && credential.key !== undefined
              ? { cert: credential.cert, key: credential.key }
              : {}),
            ...(conn.tlsServerName ? { servername: conn.tlsServerName } : {}),
          });
  }

  static async open(conn: KubeConnection): Promise<KubeApiClient> {
    return new KubeApiClient(conn, await conn.credential(false));
  }

  async list(
    resource: KubeResource,
    page: { limit: number; continueToken?: string },
    signal: AbortSignal,
  ): Promise<ObjectPage> {
    const d = await this.discover(resource, signal);
    const q = new URLSearchParams({ limit: String(page.limit) });
    if (page.continueToken) q.set('continue', page.continueToken);
    const reply = await this.call('GET', `${d.base}/${resource.resource}?${q}`, `list ${resource.name}`, signal, {
      accept: METADATA_LIST,
    });
    const body = json(reply.text, `list ${resource.name}`) as {
      metadata?: { continue?: string; remainingItemCount?: number };
      items?: { metadata?: { name?: string; namespace?: string } }[];
    };
    const items: ObjectName[] = (body.items ?? []).map((i) => ({
      name: String(i.metadata?.name ?? ''),
      ...(i.metadata?.namespace ? { namespace: i.metadata.namespace } : {}),
    }));
    const token = body.metadata?.continue;
    const remaining = body.metadata?.remainingItemCount;
    return {
      items,
      ...(token ? { continueToken: token } : {}),
      ...(typeof remaining === 'number' ? { remaining } : {}),
    };
  }

  async get(resource: KubeResource, name: ObjectName, signal: AbortSignal): Promise<KubeObject> {
    const path = await this.objectPath(resource, name, signal);
    const reply = await this.call('GET', path, `get ${label(resource, name)}`, signal);
    const meta = (json(reply.text, `get ${label(resource, name)}`) as { metadata?: { resourceVersion?: string } })
      .metadata;
    return { resourceVersion: String(meta?.resourceVersion ?? ''), body: reply.text };
  }

  async replace(resource: KubeResource, name: ObjectName, obj: KubeObject, signal: AbortSignal): Promise<void> {
    const path = await this.objectPath(resource, name, signal);
    // The object exactly as read: its resourceVersion makes a concurrent change a 409.
    await this.call('PUT', path, `update ${label(resource, name)}`, signal, { body: obj.body });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  private async objectPath(resource: KubeResource, name: ObjectName, signal: AbortSignal): Promise<string> {
    const d = await this.discover(resource, signal);
    const ns = name.namespace ? `/namespaces/${encodeURIComponent(name.namespace)}` : '';
    return `${d.base}${ns}/${resource.resource}/${encodeURIComponent(name.name)}`;
  }

  /** The group's preferred version and whether the resource is namespaced, asked once per resource. */
  private async discover(resource: KubeResource, signal: AbortSignal): Promise<Discovered> {
    const known = this.discovered.get(resource.name);
    if (known) return known;
    let base = '/api/v1';
    if (resource.group !== '') {
      const g = await this.call('GET', `/apis/${resource.group}`, `discover ${resource.name}`, signal).catch(
        (err: unknown) => {
          if (err instanceof KubeApiError && err.failure === 'not-found')
            throw new KubeApiError('fatal', `the apiserver serves no API group ${resource.group}`);
          throw err;
        },
      );
      const gv = (json(g.text, `discover ${resource.group}`) as { preferredVersion?: { groupVersion?: string } })
        .preferredVersion?.groupVersion;
      if (!gv) throw new KubeApiError('fatal', `the apiserver names no preferred version of ${resource.group}`);
      base = `/apis/${gv}`;
    }
    const list = json((await this.call('GET', base, `discover ${resource.name}`, signal)).text, base) as {
      resources?: { name?: string; namespaced?: boolean; verbs?: string[] }[];
    };
    const r = list.resources?.find((x) => x.name === resource.resource);
    if (!r) throw new KubeApiError('fatal', `the apiserver serves no resource ${resource.resource} in ${base}`);
    for (const verb of ['list', 'get', 'update'])
      if (!r.verbs?.includes(verb))
        throw new KubeApiError(
          'fatal',
          `${resource.name} cannot be ${verb === 'get' ? 'read' : `${verb}ed`} (${base})`,
        );
    const d = { base, namespaced: r.namespaced === true };
    this.discovered.set(resource.name, d);
    return d;
  }

  /** One request; a 401 asks the credential source again once (a rotated token, an exec plugin). */
  private async call(
    method: 'GET' | 'PUT',
    path: string,
    what: string,
    signal: AbortSignal,
    extra: { accept?: string; body?: string } = {},
  ): Promise<Reply> {
    let reply = await this.send(method, path, what, signal, extra);
    if (reply.status === 401) {
      this.credential = await this.conn.credential(true);
      reply = await this.send(method, path, what, signal, extra);
    }
    if (reply.status >= 200 && reply.status < 300) return reply;
    throw failure(reply, what);
  }

  private send(
    method: string,
    path: string,
    what: string,
    signal: AbortSignal,
    extra: { accept?: string; body?: string },
  ): Promise<Reply> {
    const url = new URL(this.conn.server.pathname.replace(/\/$/, '') + path, this.conn.server);
    const cred = this.credential;
    const headers: Record<string, string> = { accept: extra.accept ?? 'application/json', 'user-agent': USER_AGENT };
    if (cred.token) headers.authorization = `Bearer ${cred.token}`;
    else if (cred.basic)
      headers.authorization = `Basic ${Buffer.from(`${cred.basic.username}:${cred.basic.password}`).toString('base64')}`;
    if (extra.body !== undefined) headers['content-type'] = 'application/json';
    const request = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers, agent: this.agent, signal, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > MAX_BODY_BYTES)
            req.destroy(new KubeApiError('fatal', `${what}: answer larger than ${MAX_BODY_BYTES} bytes`));
          else chunks.push(d);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (err) => reject(connectionFailure(err, what, signal)));
      });
      req.on('timeout', () =>
        req.destroy(new KubeApiError('retryable', `${what}: no answer in ${REQUEST_TIMEOUT_MS / 1000} s`)),
      );
      req.on('error', (err) => reject(connectionFailure(err, what, signal)));
      req.end(extra.body);
    });
  }
}

const label = (r: KubeResource, n: ObjectName): string => `${r.name} ${n.namespace ? `${n.namespace}/` : ''}${n.name}`;

function json(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new KubeApiError('fatal', `${what}: the answer is not JSON`);
  }
}

/** A dropped or refused connection may pass: retried. A TLS failure will not: fatal, with the reason. */
function connectionFailure(err: Error, what: string, signal: AbortSignal): Error {
  if (signal.aborted) return signal.reason instanceof Error ? signal.reason : new Error('aborted');
  if (err instanceof KubeApiError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|ERR_TLS/.test(code))
    return new KubeApiError(
      'fatal',
      `${what}: TLS failed (${code}): check the kubeconfig's certificate-authority`,
      undefined,
      { cause: err },
    );
  return new KubeApiError('retryable', `${what}: ${code || err.message}`, undefined, { cause: err });
}

/**
 * The status as the loop sorts it. The message carries the status, the
 * Status reason and the names of the fields at fault, never the apiserver's
 * free text: a validation message can quote a field's value, and a Secret's
 * values are secrets.
 */
function failure(reply: Reply, what: string): KubeApiError {
  let reason = '';
  let fields: string[] = [];
  try {
    const s = JSON.parse(reply.text) as { reason?: string; details?: { causes?: { field?: string }[] } };
    reason = s.reason ?? '';
    fields = (s.details?.causes ?? []).flatMap((c) => (c.field ? [c.field] : []));
  } catch {
    // not a Status: the code alone says enough
  }
  const text = `${what}: HTTP ${reply.status}${reason ? ` ${reason}` : ''}${fields.length ? ` (${fields.slice(0, 5).join(', ')})` : ''}`;
  switch (reply.status) {
    case 404:
      return new KubeApiError('not-found', text);
    case 409:
      return new KubeApiError('conflict', text);
    case 410:
      return new KubeApiError('expired', text);
    case 401:
      return new KubeApiError('fatal', `${text}: the credentials were refused`);
    case 403:
      return new KubeApiError('fatal', `${text}: the identity needs list, get and update on the resource`);
  }
  if (reply.status === 429 || reply.status >= 500) {
    // Retry-After in seconds (RFC 9110 §10.2.3); kube-apiserver sends it with 429 and some 5xx.
    const after = Number(reply.headers['retry-after']);
    return new KubeApiError('retryable', text, Number.isFinite(after) && after >= 0 ? after * 1000 : undefined);
  }
  return new KubeApiError('fatal', text);
}
