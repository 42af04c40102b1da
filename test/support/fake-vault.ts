import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRequest {
  readonly method: string;
  /** Path below /v1/, e.g. "transit/encrypt/kleidi". */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/** What the fake answers: a status and JSON body, or 'hang' to never answer. */
export type FakeAnswer = { status: number; body?: unknown } | 'hang';

export interface FakeVault {
  readonly address: string;
  readonly requests: FakeRequest[];
  close(): Promise<void>;
}

/**
 * A scripted HTTP server on loopback for answers a real Vault rarely gives on
 * demand (429, 5xx, hangs, odd bodies). `answer` sees every request.
 */
export async function startFakeVault(answer: (req: FakeRequest) => FakeAnswer): Promise<FakeVault> {
  const requests: FakeRequest[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      const r: FakeRequest = {
        method: req.method ?? '',
        path: (req.url ?? '').replace(/^\/v1\//, ''),
        headers: req.headers,
        body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {},
      };
      requests.push(r);
      const a = answer(r);
      if (a === 'hang') return;
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(a.body === undefined ? '' : JSON.stringify(a.body));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    address: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** Canned bodies of the Vault endpoints kleidi uses. */
export const vaultBodies = {
  key: (latest = 1, extra: Record<string, unknown> = {}) => ({
    data: {
      type: 'aes256-gcm96',
      derived: false,
      latest_version: latest,
      min_decryption_version: 1,
      min_encryption_version: 0,
      keys: Object.fromEntries(Array.from({ length: latest }, (_, i) => [String(i + 1), 1_700_000_000 + i])),
      ...extra,
    },
  }),
  lookupSelf: (ttl = 0) => ({ data: { ttl, renewable: ttl > 0 } }),
  login: (token = 's.fake', ttl = 3600) => ({ auth: { client_token: token, lease_duration: ttl, renewable: true } }),
  encrypt: (version = 1) => ({
    data: { ciphertext: `vault:v${version}:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`, key_version: version },
  }),
  errors: (...errors: string[]) => ({ errors }),
};
