import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';
import { aDataKey, aSignal } from '../../support/builders.js';
import { startCountingProxy, type CountingProxy, type OwnAnswer } from '../../support/counting-proxy.js';
import { KmsTestClient } from '../../support/grpc-client.js';
import { startKleidi, tempDir } from '../../support/kleidi-process.js';
import { selfSignedCertificate } from '../../support/vault-auth.fixture.js';
import { openWrapper } from '../../support/vault-transit.harness.js';
import { secretFile, setUpTransit, startDevVault, type VaultServer } from '../../support/vault-server.fixture.js';

/** What a stranger's server saw: every request line with its headers and body, and every CONNECT. */
interface Recorder {
  readonly address: string;
  readonly seen: { line: string; headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}

/** A loopback server that records everything sent to it and answers 502 (CONNECT: closes the socket). */
async function startRecorder(): Promise<Recorder> {
  const seen: Recorder['seen'] = [];
  const server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      seen.push({ line: `${req.method ?? ''} ${req.url ?? ''}`, headers: req.headers, body });
      res.writeHead(502).end();
    });
  });
  server.on('connect', (req: IncomingMessage, socket) => {
    seen.push({ line: `CONNECT ${req.url ?? ''}`, headers: req.headers, body: '' });
    socket.destroy();
  });
  return listening(server, 'http', seen);
}

async function listening(server: Server, scheme: string, seen: Recorder['seen']): Promise<Recorder> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    address: `${scheme}://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** A self-signed certificate for 127.0.0.1; the certificate is its own CA. */
function selfSignedCert(dir: string): { certFile: string; keyFile: string } {
  return selfSignedCertificate(dir, '127.0.0.1', 'subjectAltName=IP:127.0.0.1');
}

describe('redirects from Vault are never followed (real Vault behind a loopback front)', () => {
  let server: VaultServer;
  let elsewhere: Recorder;
  let front: CountingProxy | undefined;
  beforeAll(async () => {
    server = await startDevVault();
    await setUpTransit(server);
    elsewhere = await startRecorder();
  });
  afterEach(async () => {
    await front?.close();
    front = undefined;
    elsewhere.seen.length = 0;
  });
  afterAll(async () => {
    await elsewhere?.close();
    await server?.stop();
  });

  /** The real Vault, except that `answer` may answer a request itself. */
  async function frontWith(answer: (method: string, url: string) => OwnAnswer | undefined): Promise<CountingProxy> {
    front = await startCountingProxy(server.address, answer);
    return front;
  }

  it('does not follow a 307 to another origin: neither the token nor the seed reaches it', async () => {
    const f = await frontWith((method, url) =>
      method === 'POST' && url === '/v1/transit/encrypt/kleidi'
        ? { status: 307, headers: { location: `${elsewhere.address}/v1/transit/encrypt/kleidi` } }
        : undefined,
    );
    const w = await openWrapper({ address: f.address, auth: { method: 'token', token: server.rootToken } });
    const err = await w.wrap(aDataKey(), await w.currentVersion(aSignal()), aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendMisconfiguredError);
    expect((err as Error).message).toContain(`redirect to ${elsewhere.address} not followed`);
    expect(elsewhere.seen).toEqual([]);
    expect(f.count('/v1/transit/encrypt/kleidi')).toBe(1); // sent once: a redirect is not retried either
    await w.close();
  });

  it('does not follow a 308 to the same origin either', async () => {
    const f = await frontWith((method, url) =>
      method === 'POST' && url === '/v1/transit/encrypt/kleidi'
        ? { status: 308, headers: { location: '/v1/transit/encrypt/other' } }
        : undefined,
    );
    const w = await openWrapper({ address: f.address, auth: { method: 'token', token: server.rootToken } });
    const err = await w.wrap(aDataKey(), await w.currentVersion(aSignal()), aSignal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendMisconfiguredError);
    expect((err as Error).message).toContain(`redirect to ${f.address} not followed`);
    expect(f.count('/v1/transit/encrypt/other')).toBe(0);
    await w.close();
  });

  it('never goes from https to http: a redirect to http is not followed', async () => {
    const { certFile, keyFile } = selfSignedCert(server.dir);
    const seen: Recorder['seen'] = [];
    const https = createHttpsServer(
      { cert: await readFile(certFile), key: await readFile(keyFile) },
      (req: IncomingMessage, res: ServerResponse) => {
        seen.push({ line: `${req.method ?? ''} ${req.url ?? ''}`, headers: req.headers, body: '' });
        req.resume();
        res.writeHead(307, { location: `${elsewhere.address}${req.url ?? '/'}` }).end();
      },
    );
    const tlsFront = await listening(https, 'https', seen);
    try {
      const w = await openWrapper({
        address: tlsFront.address,
        tls: { caFile: certFile },
        auth: { method: 'token', token: server.rootToken },
      });
      const err = await w.currentVersion(aSignal()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendMisconfiguredError);
      expect((err as Error).message).toContain(`redirect to ${elsewhere.address} not followed`);
      expect(seen.map((s) => s.line)).toEqual(['GET /v1/auth/token/lookup-self']);
      expect(elsewhere.seen).toEqual([]);
      await w.close();
    } finally {
      await tlsFront.close();
    }
  });
});

/** Every variable node-vault, axios or Node's own proxy support reads, pointing at `proxy`. */
function strayEnvironment(proxy: string): Record<string, string> {
  return {
    HTTP_PROXY: proxy,
    HTTPS_PROXY: proxy,
    ALL_PROXY: proxy,
    http_proxy: proxy,
    https_proxy: proxy,
    all_proxy: proxy,
    NO_PROXY: '',
    no_proxy: '',
    VAULT_PREFIX: '/stray-prefix',
    VAULT_ADDR: proxy,
    VAULT_SKIP_VERIFY: 'true',
  };
}

describe('proxy and path variables from the environment do not steer Vault traffic', () => {
  let server: VaultServer;
  let tlsServer: VaultServer;
  let proxy: Recorder;
  beforeAll(async () => {
    [server, tlsServer] = await Promise.all([startDevVault(), startDevVault({ tls: true })]);
    await Promise.all([setUpTransit(server), setUpTransit(tlsServer)]);
    proxy = await startRecorder();
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([server?.stop(), tlsServer?.stop()]);
  });

  it('in-process: http and https Vault are reached directly, at their own paths', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, strayEnvironment(proxy.address));
    try {
      for (const s of [server, tlsServer]) {
        const w = await openWrapper({
          address: s.address,
          ...(s.tls ? { tls: { caFile: s.tls.caFile } } : {}),
          auth: { method: 'token', token: s.rootToken },
        });
        const seed = aDataKey();
        const wrapped = await w.wrap(seed, await w.currentVersion(aSignal()), aSignal());
        expect(await w.unwrap(wrapped, aSignal())).toEqual(seed);
        await w.close();
      }
      // VAULT_SKIP_VERIFY does not switch off certificate checks: without the CA, Vault is not trusted.
      const untrusted = await openWrapper({ address: tlsServer.address, auth: { method: 'token', token: 'root' } });
      await expect(untrusted.currentVersion(aSignal())).rejects.toThrow(/TLS certificate is not trusted/);
      await untrusted.close();
      expect(proxy.seen).toEqual([]);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('the real process, with NODE_USE_ENV_PROXY=1 as well: Encrypt and Decrypt reach Vault directly', async () => {
    const tmp = await tempDir();
    const kleidi = await startKleidi(tmp.dir, [], {
      ...strayEnvironment(proxy.address),
      NODE_USE_ENV_PROXY: '1',
      KLEIDI_BACKEND: 'vault',
      KLEIDI_VAULT_ADDRESS: tlsServer.address,
      KLEIDI_VAULT_CA_FILE: tlsServer.tls?.caFile ?? '',
      KLEIDI_VAULT_TOKEN_FILE: await secretFile(tmp.dir, 'token', tlsServer.rootToken),
    });
    const client = new KmsTestClient(kleidi.socket);
    try {
      const plaintext = aDataKey();
      const enc = await client.encrypt(plaintext);
      const dec = await client.decrypt({ ciphertext: enc.ciphertext, keyId: enc.keyId, annotations: enc.annotations });
      expect(new Uint8Array(dec.plaintext)).toEqual(plaintext);
      expect(proxy.seen).toEqual([]);
    } finally {
      client.close();
      await kleidi.stop();
      await tmp.cleanup();
    }
  });
});
