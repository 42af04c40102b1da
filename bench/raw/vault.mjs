// The raw Vault/OpenBao transit baseline (docs/benchmarks.md): the same transit key
// kleidi's vault backend uses, called directly over HTTP with a keep-alive
// agent (one socket per caller at most), with the request bodies kleidi
// sends (plaintext or ciphertext, key_version, associated_data), and no
// gRPC, domain, retries or validation. kleidi(vault) ÷ this is what kleidi's
// whole path costs on top of the server.
//
//   node bench/raw/vault.mjs --op encrypt|decrypt --concurrency 16 --duration-ms 5000 \
//     --address http://127.0.0.1:8200 --token-file F [--mount transit] [--key kleidi] [--client http|node-vault]
// Prints one JSON report. `--client node-vault` sends the same requests through node-vault (axios)
// with the same agent, which prices the library kleidi's vault adapter is built on.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { closedLoop, parseFlags } from '../lib/driver.mjs';

const f = parseFlags(process.argv.slice(2));
const op = f.op;
if (op !== 'encrypt' && op !== 'decrypt') throw new Error('--op encrypt|decrypt');
const concurrency = Number(f.concurrency ?? 1);
const address = new URL(f.address);
if (address.protocol !== 'http:') throw new Error('the bench runs Vault on plain http on loopback');
const token = readFileSync(f['token-file'], 'utf8').trim();
const base = `/v1/${f.mount ?? 'transit'}`;
const key = encodeURIComponent(f.key ?? 'kleidi');
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
// kleidi binds its envelope header (about 40 bytes) as associated_data.
const ad = Buffer.alloc(40, 7).toString('base64');

const viaNodeVault = f.client === 'node-vault';
const nodeVault = viaNodeVault
  ? (await import('node-vault')).default({ endpoint: address.origin, apiVersion: 'v1', token })
  : undefined;

function post(path, body) {
  if (nodeVault) return nodeVault.write(path.replace(/^\/v1\//, ''), body, { httpAgent: agent }).then((r) => r.data);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: address.hostname,
        port: address.port,
        method: 'POST',
        path,
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(data),
          'x-vault-token': token,
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          else resolve(JSON.parse(text).data);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const encrypt = (plain) =>
  post(`${base}/encrypt/${key}`, { plaintext: plain.toString('base64'), key_version: 1, associated_data: ad });
const seed = randomBytes(32);
const { ciphertext } = await encrypt(seed);
const decrypt = async () => {
  const { plaintext } = await post(`${base}/decrypt/${key}`, { ciphertext, associated_data: ad });
  if (!Buffer.from(plaintext, 'base64').equals(seed)) throw new Error('decrypt returned other bytes');
};
const call = op === 'encrypt' ? () => encrypt(randomBytes(32)) : decrypt;
const report = await closedLoop(
  { op, concurrency, durationMs: Number(f['duration-ms'] ?? 5000), warmupMs: Number(f['warmup-ms'] ?? 300) },
  call,
);
agent.destroy();
process.stdout.write(
  `${JSON.stringify({ ...report, backend: viaNodeVault ? 'raw-vault (node-vault)' : 'raw-vault' }, null, 2)}\n`,
);
