// The raw Azure Key Vault baseline (docs/benchmarks.md): the same key kleidi's azure backend uses,
// called directly with @azure/keyvault-keys and @azure/identity (the libraries the adapter is built
// on), with the requests kleidi sends: wrapKey/unwrapKey of the newest version with RSA-OAEP-256,
// of nonce || SHA-256(envelope header) || seed (ADR 0012); the SDK's own pipeline with retries off;
// no gRPC, domain, header check or deadline handling. kleidi(azure) ÷ this is what kleidi's whole
// path costs on top of the SDK and the server (the fake Key Vault the bench starts).
//
//   node bench/raw/azure.mjs --op encrypt|decrypt --concurrency 16 --duration-ms 5000 \
//     --vault-url https://127.0.0.1:PORT --key kleidi --authority-host https://127.0.0.1:PORT2 \
//     --tenant-id T --client-id C --secret-file F --ca-file CA
// Prints one JSON report.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ClientSecretCredential } from '@azure/identity';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { closedLoop, parseFlags } from '../lib/driver.mjs';

const f = parseFlags(process.argv.slice(2));
const op = f.op;
if (op !== 'encrypt' && op !== 'decrypt') throw new Error('--op encrypt|decrypt');
const concurrency = Number(f.concurrency ?? 1);
const vault = new URL(f['vault-url']);
if (vault.hostname !== '127.0.0.1') throw new Error('the bench runs the fake Key Vault on loopback');
const tlsOptions = { ca: readFileSync(f['ca-file'], 'utf8') };
const credential = new ClientSecretCredential(
  f['tenant-id'],
  f['client-id'],
  readFileSync(f['secret-file'], 'utf8').trim(),
  {
    authorityHost: f['authority-host'],
    disableInstanceDiscovery: true,
    tlsOptions,
  },
);
const options = { tlsOptions, disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } };
const keys = new KeyClient(vault.origin, credential, options);
const key = await keys.getKey(f.key ?? 'kleidi');
const crypto = new CryptographyClient(key.id, credential, options);
// kleidi's key_id and envelope header (src/domain/model/envelope.ts: magic, format, scheme 2, length, key_id).
const host = vault.port ? `${vault.hostname}%3A${vault.port}` : vault.hostname;
const keyId = Buffer.from(`azure:${host}:${key.name}:${key.properties.version}`);
const header = Buffer.concat([Buffer.from([0x4b, 1, 2, keyId.length >> 8, keyId.length & 0xff]), keyId]);
const digest = createHash('sha256').update(header).digest();

const encrypt = async (seed) => {
  const out = await crypto.wrapKey('RSA-OAEP-256', Buffer.concat([randomBytes(16), digest, seed]));
  return out.result;
};
const seed = randomBytes(32);
const blob = await encrypt(seed);
const decrypt = async () => {
  const out = await crypto.unwrapKey('RSA-OAEP-256', blob);
  if (!Buffer.from(out.result).subarray(48).equals(seed)) throw new Error('unwrap returned other bytes');
};
const call = op === 'encrypt' ? () => encrypt(randomBytes(32)) : decrypt;
const report = await closedLoop(
  { op, concurrency, durationMs: Number(f['duration-ms'] ?? 5000), warmupMs: Number(f['warmup-ms'] ?? 300) },
  call,
);
process.stdout.write(`${JSON.stringify({ ...report, backend: 'raw-azure-sdk' }, null, 2)}\n`);
