import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthProbes, MetricsExposition, ProbeResult } from '../../../ports/inbound/operations.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { httpUrl, isLoopback, type HttpAddress } from './http-address.js';

const TEXT = 'text/plain; charset=utf-8';
/** Probes and scrapes are tiny; a slow or idle client is cut off rather than holding a socket. */
const REQUEST_TIMEOUT_MS = 5_000;

/**
 * The operational HTTP endpoint: /livez, /readyz and /metrics, nothing else.
 * GET and HEAD only, no request body is read, no key material is reachable
 * from here. Probe answers follow kube-apiserver's own convention: 200 "ok",
 * or 503 with the reason as text.
 */
export class OperationsHttpServer {
  private server: Server | undefined;

  constructor(
    private readonly probes: HealthProbes,
    private readonly metrics: MetricsExposition,
    private readonly log: Logger,
  ) {}

  /** Listens on `address`; resolves with the URL actually bound (port 0 → a free port). */
  async start(address: HttpAddress): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    server.headersTimeout = REQUEST_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address.host, port: address.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, 'operations HTTP server error'));
    this.server = server;
    const bound = server.address() as AddressInfo;
    const url = httpUrl({ host: address.host, port: bound.port });
    if (!isLoopback(address.host)) {
      this.log.warn(
        { url },
        'health and metrics are reachable from other hosts; keep this port firewalled to your scraper',
      );
    }
    this.log.info({ url, endpoints: ['/livez', '/readyz', '/metrics'] }, 'serving health and metrics over HTTP');
    return url;
  }

  /** Stops listening and closes open (keep-alive) connections. Idempotent. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, TEXT, 'method not allowed\n');
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    switch (path) {
      case '/livez':
        return probe(res, this.probes.liveness());
      case '/readyz':
        return probe(res, this.probes.readiness());
      case '/metrics':
        try {
          return send(res, 200, this.metrics.contentType, await this.metrics.render());
        } catch (err) {
          this.log.error({ err }, 'rendering metrics failed');
          return send(res, 500, TEXT, 'metrics unavailable\n');
        }
      default:
        return send(res, 404, TEXT, 'not found: try /livez, /readyz or /metrics\n');
    }
  }
}

function probe(res: ServerResponse, r: ProbeResult): void {
  send(res, r.ok ? 200 : 503, TEXT, r.ok ? 'ok\n' : `${r.reason}\n`);
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
