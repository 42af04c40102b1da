import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback HTTP proxy in front of a Vault server that counts requests per
 * path, so tests can assert that kleidi does not hammer Vault.
 */
export interface CountingProxy {
  readonly address: string;
  /** Requests seen, as "METHOD /v1/path". */
  readonly seen: string[];
  count(pathPart: string): number;
  close(): Promise<void>;
}

/** An answer the proxy gives itself instead of forwarding (e.g. a redirect). */
export interface OwnAnswer {
  readonly status: number;
  readonly headers?: Record<string, string>;
}

/** `answer` may answer a request itself (by method and URL path); others are forwarded to `target`. */
export async function startCountingProxy(
  target: string,
  answer: (method: string, url: string) => OwnAnswer | undefined = () => undefined,
): Promise<CountingProxy> {
  const seen: string[] = [];
  const to = new URL(target);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''}`);
    const own = answer(req.method ?? '', req.url ?? '');
    if (own) {
      req.resume();
      res.writeHead(own.status, own.headers).end();
      return;
    }
    const upstream = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      res.writeHead(502).end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    address: `http://127.0.0.1:${port}`,
    seen,
    count: (part) => seen.filter((s) => s.includes(part)).length,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
