import {
  type ChannelCredentials,
  Client,
  type ClientOptions,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { abortable, abortReason } from '../../../domain/services/abortable.js';
import { BackendMisconfiguredError, BackendUnavailableError, type KmsError } from '../../../domain/model/errors.js';
import type { StoredObjectPage, StoredObjectSource } from '../../../ports/outbound/stored-objects.port.js';
import { readSecretFile, readTrustedFile } from '../shared/secret-file.js';
import { sleep } from '../shared/sleep.js';
import {
  decodeRangeResponse,
  encodeRangeRequest,
  prefixRangeEnd,
  RANGE_METHOD,
  type RangeResponse,
} from './etcd-range.js';

/** What kube-apiserver's `--etcd-servers`, `--etcd-cafile`, `--etcd-certfile` and `--etcd-keyfile` say. */
export interface EtcdSettings {
  /** `https://host:port` or `http://host:port`, tried in order until one answers. */
  readonly servers: readonly string[];
  readonly caFile?: string;
  readonly certFile?: string;
  /** SECURITY: the client key is a secret file: O_NOFOLLOW, regular, 0600, owned by us (shared/secret-file.ts). */
  readonly keyFile?: string;
}

/** Per Range call: a page of at most 1,000 small objects answers in milliseconds; this bounds a hung member. */
const CALL_TIMEOUT_MS = 30_000;
/**
 * Largest answer accepted: a page of large objects (etcd accepts values up to
 * its --max-request-bytes, 1.5 MiB by default, https://etcd.io/docs/v3.6/dev-guide/limit/)
 * can exceed it; the page is then asked for again at half the size, so memory
 * stays bounded whatever the objects weigh.
 */
const MAX_RESPONSE_BYTES = 64 << 20;

const utf8 = new TextEncoder();
const text = new TextDecoder();

/**
 * The objects below a prefix, read from etcd's KV.Range in pages at one
 * revision (StoredObjectSource's contract). Read-only: it has no code path
 * that writes. gRPC (@grpc/grpc-js) speaks etcd's v3 API directly
 * (docs/adr/0018-key-usage-scan.md).
 */
export class EtcdStoredObjects implements StoredObjectSource {
  private client: { readonly c: Client; readonly server: string } | undefined;
  private tls: Promise<ChannelCredentials> | undefined;

  constructor(private readonly settings: EtcdSettings) {
    if (settings.servers.length === 0) throw new BackendMisconfiguredError('no etcd server given (--etcd-servers)');
    for (const s of settings.servers) endpointOf(s);
  }

  async *pages(
    prefix: string,
    opts: { readonly pageSize: number; readonly maxKeysPerSecond: number; readonly revision?: number },
    signal: AbortSignal,
  ): AsyncIterable<StoredObjectPage> {
    const start = utf8.encode(prefix.endsWith('/') ? prefix : `${prefix}/`);
    const rangeEnd = prefixRangeEnd(start);
    let key = start;
    let revision = opts.revision ?? 0;
    let pageSize = Math.max(1, opts.pageSize);
    for (;;) {
      const began = performance.now();
      let res: RangeResponse;
      try {
        res = await this.range({ key, rangeEnd, limit: pageSize, revision }, signal);
      } catch (err) {
        if (err instanceof PageTooLarge && pageSize > 1) {
          pageSize = Math.max(1, Math.floor(pageSize / 2));
          continue;
        }
        throw err;
      }
      if (revision === 0) revision = res.revision;
      const objects = res.kvs.map((kv) => ({ key: text.decode(kv.key), value: kv.value }));
      yield { objects, revision };
      const last = res.kvs.at(-1);
      if (!res.more || last === undefined) return;
      key = new Uint8Array([...last.key, 0]); // the next key after `last` (etcd compares keys as bytes)
      // Pacing: a page of n keys takes at least n / maxKeysPerSecond seconds.
      const wait = (objects.length / Math.max(1, opts.maxKeysPerSecond)) * 1000 - (performance.now() - began);
      if (wait > 0) await abortable(sleep(wait), signal);
    }
  }

  async close(): Promise<void> {
    this.client?.c.close();
    this.client = undefined;
  }

  /** One Range on the server that answered last, or on each server in turn until one answers. */
  private async range(req: Parameters<typeof encodeRangeRequest>[0], signal: AbortSignal): Promise<RangeResponse> {
    if (this.client) return this.call(this.client, req, signal);
    let lastErr: KmsError | undefined;
    for (const server of this.settings.servers) {
      const client = { c: await this.connect(server), server };
      try {
        const res = await this.call(client, req, signal);
        this.client = client;
        return res;
      } catch (err) {
        client.c.close();
        if (!(err instanceof BackendUnavailableError)) throw err;
        lastErr = err;
      }
    }
    throw lastErr ?? new BackendUnavailableError('no etcd server answered');
  }

  private async connect(server: string): Promise<Client> {
    const { target, tls } = endpointOf(server);
    const opts: ClientOptions = {
      'grpc.max_receive_message_length': MAX_RESPONSE_BYTES,
      // One attempt a page: a scan that finds etcd gone stops and says so, rather than hammering it.
      'grpc.enable_retries': 0,
    };
    return new Client(target, tls ? await this.tlsCredentials() : credentials.createInsecure(), opts);
  }

  /** The TLS credentials, read once however many servers are tried. */
  private tlsCredentials(): Promise<ChannelCredentials> {
    this.tls ??= (async () => {
      const s = this.settings;
      if ((s.certFile === undefined) !== (s.keyFile === undefined)) {
        throw new BackendMisconfiguredError('--etcd-certfile and --etcd-keyfile go together');
      }
      // The CA and the certificate decide whom kleidi trusts and who it is: trusted files
      // (not writable by group or others); the key is a secret file.
      const ca = s.caFile ? Buffer.from(await readTrustedFile(s.caFile, 'etcd CA file')) : null;
      const cert = s.certFile ? Buffer.from(await readTrustedFile(s.certFile, 'etcd client certificate')) : null;
      const key = s.keyFile ? Buffer.from((await readSecretFile(s.keyFile, { what: 'etcd client key' })).text) : null;
      return credentials.createSsl(ca, key, cert);
    })();
    return this.tls;
  }

  private call(
    client: { readonly c: Client; readonly server: string },
    req: Parameters<typeof encodeRangeRequest>[0],
    signal: AbortSignal,
  ): Promise<RangeResponse> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    return new Promise((resolve, reject) => {
      const call = client.c.makeUnaryRequest(
        RANGE_METHOD,
        (r: typeof req) => Buffer.from(encodeRangeRequest(r)),
        (b: Buffer) => decodeRangeResponse(b),
        req,
        new Metadata(),
        { deadline: Date.now() + CALL_TIMEOUT_MS },
        (err: ServiceError | null, res?: RangeResponse) => {
          signal.removeEventListener('abort', onAbort);
          if (signal.aborted) reject(abortReason(signal));
          else if (err) reject(mapError(err, client.server, req.revision));
          else if (res) resolve(res);
          else reject(new BackendUnavailableError(`etcd at ${client.server} sent an empty answer`));
        },
      );
      const onAbort = (): void => call.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

class PageTooLarge extends BackendUnavailableError {}

/** gRPC status → the domain's errors, once. etcd's messages name no secret (rpctypes/error.go). */
function mapError(err: ServiceError, server: string, revision: number): KmsError {
  const where = `etcd at ${server}`;
  switch (err.code) {
    case status.RESOURCE_EXHAUSTED:
      return new PageTooLarge(`${where}: a page exceeded ${MAX_RESPONSE_BYTES} bytes`);
    case status.OUT_OF_RANGE:
      // ErrGRPCCompacted, "etcdserver: mvcc: required revision has been compacted".
      return new BackendUnavailableError(
        `${where} compacted revision ${revision} while the scan read it; run the scan again (${err.details})`,
      );
    case status.UNAUTHENTICATED:
    case status.PERMISSION_DENIED:
      return new BackendMisconfiguredError(`${where} refused this identity: ${err.details}`);
    case status.UNAVAILABLE:
      // A TLS failure (unknown CA, a certificate etcd refuses) also surfaces as UNAVAILABLE.
      return new BackendUnavailableError(`${where} is unavailable: ${err.details}`);
    case status.DEADLINE_EXCEEDED:
      return new BackendUnavailableError(`${where} did not answer within ${CALL_TIMEOUT_MS / 1000} s`);
    default:
      return new BackendUnavailableError(`${where} failed: ${status[err.code]} ${err.details}`);
  }
}

/** `https://host:port` → the gRPC target and whether TLS is on. */
function endpointOf(server: string): { target: string; tls: boolean } {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new BackendMisconfiguredError(`etcd server ${JSON.stringify(server)} is not a URL (https://host:port)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new BackendMisconfiguredError(`etcd server ${server}: the scheme must be https or http`);
  }
  if (url.port === '') throw new BackendMisconfiguredError(`etcd server ${server} names no port`);
  return { target: `${url.hostname}:${url.port}`, tls: url.protocol === 'https:' };
}
