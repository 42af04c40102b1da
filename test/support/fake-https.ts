import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { selfSignedCertificate } from './vault-auth.fixture.js';

/** A request as the fakes' logs keep it: never a body or a header. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

export interface LoopbackHttps {
  readonly url: string;
  /** The PEM certificate to trust (its own CA), made with openssl when the server started. */
  readonly caFile: string;
  readonly log: SeenRequest[];
  /** Stops listening and drops every connection. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * HTTPS on 127.0.0.1 for the in-process vendor fakes, with a certificate (its own CA, valid for
 * IP 127.0.0.1 and localhost) generated in `dir` at start. `handle` gets the whole body.
 */
export async function startLoopbackHttps(
  dir: string,
  handle: (req: IncomingMessage, res: ServerResponse, body: string) => void,
  port = 0,
): Promise<LoopbackHttps> {
  const { certFile, keyFile } = selfSignedCertificate(
    dir,
    `fake-${randomBytes(4).toString('hex')}`,
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  );
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  const log: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let server: Server;
  const listen = (p: number) =>
    new Promise<number>((ok, fail) => {
      server = createServer({ cert, key }, (req, res) => {
        let raw = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (raw += c));
        req.on('end', () => {
          handle(req, res, raw);
          log.push({
            method: req.method ?? '',
            path: new URL(req.url ?? '/', 'https://fake').pathname,
            status: res.statusCode,
          });
        });
      });
      server.on('connection', (s: Socket) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      server.once('error', fail);
      server.listen(p, '127.0.0.1', () => ok((server.address() as AddressInfo).port));
    });
  const close = () =>
    new Promise<void>((ok) => {
      for (const s of sockets) s.destroy();
      server.close(() => ok());
    });
  const bound = await listen(port);
  let isDown = false;
  return {
    url: `https://127.0.0.1:${bound}`,
    caFile: certFile,
    log,
    async down() {
      if (isDown) return;
      isDown = true;
      await close();
    },
    async up() {
      if (!isDown) return;
      await listen(bound);
      isDown = false;
    },
    async stop() {
      if (!isDown) await close();
      isDown = true;
    },
  };
}

/** Writes a JSON answer. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}
