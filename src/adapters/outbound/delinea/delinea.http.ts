import { Agent, request } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { DelineaCallFailure } from './delinea.errors.js';

/** One HTTP answer, whatever its status. */
export interface HttpReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** Path and query below the base URL, starting with '/'. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** An answer larger than this is refused unread: no endpoint kleidi uses returns more. */
const MAX_BODY_BYTES = 1 << 20;

/**
 * HTTPS to one Delinea server (node:https; Delinea publishes no Node SDK, see
 * docs/adr/0013-delinea-backend.md). One keep-alive agent; each attempt is bounded by
 * `attemptTimeoutMs` and the caller's signal. Transport failures reject with a
 * DelineaCallFailure carrying Node's error code, never the request.
 */
export class DelineaHttp {
  private readonly agent: Agent;

  constructor(
    readonly base: URL,
    ca: string | undefined,
    private readonly attemptTimeoutMs: number,
  ) {
    if (base.protocol !== 'https:') throw new TypeError('the Delinea URL must be https');
    this.agent = new Agent({ keepAlive: true, maxSockets: 16, ...(ca ? { ca } : {}) });
  }

  send(req: HttpRequest, signal: AbortSignal): Promise<HttpReply> {
    const prefix = this.base.pathname.replace(/\/+$/, '');
    const timeout = AbortSignal.timeout(this.attemptTimeoutMs);
    const both = AbortSignal.any([signal, timeout]);
    return new Promise<HttpReply>((resolve, reject) => {
      const r = request(
        {
          protocol: 'https:',
          hostname: this.base.hostname.replace(/^\[|\]$/g, ''),
          port: this.base.port || 443,
          method: req.method,
          path: `${prefix}${req.path}`,
          agent: this.agent,
          signal: both,
          headers: {
            accept: 'application/json',
            ...(req.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(req.body)) }),
            ...req.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_BODY_BYTES) {
              res.destroy();
              reject(new DelineaCallFailure(res.statusCode, 'response too large'));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', (err: NodeJS.ErrnoException) =>
            reject(new DelineaCallFailure(undefined, err.code ?? 'ECONNRESET')),
          );
        },
      );
      r.on('error', (err: NodeJS.ErrnoException) => {
        if (signal.aborted) reject(signal.reason);
        else if (timeout.aborted) reject(new DelineaCallFailure(undefined, 'attempt timed out'));
        else reject(new DelineaCallFailure(undefined, err.code ?? 'transport error'));
      });
      if (req.body !== undefined) r.write(req.body);
      r.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Retry-After in ms (RFC 9110 §10.2.3: delay-seconds or an HTTP date), if present. */
export function retryAfterMs(headers: IncomingHttpHeaders, now: number): number | undefined {
  const v = headers['retry-after'];
  if (typeof v !== 'string') return undefined;
  if (/^\d{1,6}$/.test(v.trim())) return Number(v.trim()) * 1_000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
