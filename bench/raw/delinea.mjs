// The raw Delinea baseline (docs/benchmarks.md): the requests kleidi's delinea backend makes,
// made directly against the same test server, with no gRPC, domain, retries or validation.
//
// - `--mode kek-source` (Secret Server): one token (`POST /oauth2/token`, form-encoded) and one
//   read of the KEK ring field (`GET /api/v1/secrets/{id}/fields/{slug}`) at start, as kleidi
//   reads it once per refresh interval; then every call is what kleidi does per request in that
//   mode: AES-256-GCM in process with a fresh 96-bit nonce and the envelope header as
//   associated data.
// - `--mode remote` (DevOps Secrets Vault): one token (`POST /v1/token`, JSON client
//   credentials), then per call `POST /v1/crypto/encrypt {path, plaintext, version}` or
//   `POST /v1/crypto/decrypt {path, ciphertext, version}` over node:https with a keep-alive agent
//   (one socket per caller at most), the plaintext being kleidi's bound layout
//   (0x01 || SHA-256(envelope header) || seed, docs/adr/0013-delinea-backend.md).
// kleidi(delinea) ÷ this is what kleidi's whole path costs on top of the server (or of the
// in-process cipher).
//
//   node bench/raw/delinea.mjs --op encrypt|decrypt --concurrency 16 --duration-ms 5000 \
//     --mode kek-source|remote --url https://127.0.0.1:PORT --ca-file F --username U \
//     --credential-file F (--secret-id N [--field notes] | --key-path P)
// Prints one JSON report.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { closedLoop, parseFlags } from '../lib/driver.mjs';

const f = parseFlags(process.argv.slice(2));
const op = f.op;
if (op !== 'encrypt' && op !== 'decrypt') throw new Error('--op encrypt|decrypt');
const mode = f.mode;
if (mode !== 'kek-source' && mode !== 'remote') throw new Error('--mode kek-source|remote');
const concurrency = Number(f.concurrency ?? 1);
const url = new URL(f.url);
if (url.protocol !== 'https:' || url.hostname !== '127.0.0.1') throw new Error('the bench runs the fake on loopback');
const agent = new Agent({ keepAlive: true, maxSockets: concurrency, ca: readFileSync(f['ca-file']) });
const secret = readFileSync(f['credential-file'], 'utf8').trim();

function call(method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        agent,
        headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          else resolve(JSON.parse(text));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The envelope header kleidi binds: magic, format, scheme, key_id length, key_id (src/domain/model/envelope.ts). */
function header(keyId, scheme) {
  const id = Buffer.from(keyId, 'utf8');
  return Buffer.concat([Buffer.from([0x4b, 1, scheme, id.length >> 8, id.length & 0xff]), id]);
}
const host = url.host.replace(':', '%3A');

let run;
if (mode === 'kek-source') {
  const form = new URLSearchParams({ grant_type: 'password', username: f.username, password: secret }).toString();
  const { access_token: token } = await call('POST', '/oauth2/token', form, {
    'content-type': 'application/x-www-form-urlencoded',
  });
  const field = f.field ?? 'notes';
  const ring = JSON.parse(
    await call('GET', `/api/v1/secrets/${f['secret-id']}/fields/${encodeURIComponent(field)}`, undefined, {
      authorization: `Bearer ${token}`,
    }),
  );
  const newest = ring.keys.reduce((a, b) => (b.version > a.version ? b : a));
  const kek = Buffer.from(newest.material, 'base64');
  const ad = header(`delinea:kek-source:${host}:secret-${f['secret-id']}/${field}:v${newest.version}:${newest.id}`, 1);
  const seal = (seed) => {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', kek, nonce).setAAD(ad);
    return { nonce, sealed: Buffer.concat([c.update(seed), c.final(), c.getAuthTag()]) };
  };
  const seed = randomBytes(32);
  const { nonce, sealed } = seal(seed);
  run =
    op === 'encrypt'
      ? async () => seal(randomBytes(32))
      : async () => {
          const d = createDecipheriv('aes-256-gcm', kek, nonce).setAAD(ad);
          d.setAuthTag(sealed.subarray(32));
          if (!Buffer.concat([d.update(sealed.subarray(0, 32)), d.final()]).equals(seed))
            throw new Error('decrypt returned other bytes');
        };
} else {
  const json = { 'content-type': 'application/json' };
  const login = JSON.stringify({ grant_type: 'client_credentials', client_id: f.username, client_secret: secret });
  const { accessToken, access_token } = await call('POST', '/v1/token', login, json);
  const auth = { ...json, authorization: `Bearer ${accessToken ?? access_token}` };
  const path = f['key-path'];
  const post = (p, body) => call('POST', p, JSON.stringify(body), auth);
  const probe = await post('/v1/crypto/encrypt', { path, plaintext: Buffer.alloc(16).toString('base64'), version: '' });
  const version = String(probe.version);
  const digest = createHash('sha256')
    .update(header(`delinea:remote:${host}:${path}:v${version}`, 2))
    .digest();
  const bound = (seed) => Buffer.concat([Buffer.from([1]), digest, seed]).toString('base64');
  const encrypt = (seed) => post('/v1/crypto/encrypt', { path, plaintext: bound(seed), version });
  const seed = randomBytes(32);
  const { ciphertext } = await encrypt(seed);
  run =
    op === 'encrypt'
      ? () => encrypt(randomBytes(32))
      : async () => {
          const { data } = await post('/v1/crypto/decrypt', { path, ciphertext, version });
          if (!Buffer.from(data, 'base64').subarray(33).equals(seed)) throw new Error('decrypt returned other bytes');
        };
}

const report = await closedLoop(
  { op, concurrency, durationMs: Number(f['duration-ms'] ?? 5000), warmupMs: Number(f['warmup-ms'] ?? 300) },
  run,
);
agent.destroy();
process.stdout.write(`${JSON.stringify({ ...report, backend: `raw-delinea-${mode}` }, null, 2)}\n`);
