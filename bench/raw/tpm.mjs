// The raw TPM baseline (docs/benchmarks.md): the same swtpm and node key file kleidi's tpm backend
// uses, driven directly through kleidi's TPM command layer (dist/adapters/outbound/tpm, built by
// the bench): the current KEK version is loaded and unsealed once (CreatePrimary, Load, Unseal,
// FlushContext, as the adapter does at start, ADR 0014), then every call is AES-256-GCM in Node
// with the envelope header as associated data, which is what the adapter does per call. No gRPC,
// domain, validation or node-key-file watch. kleidi(tpm) ÷ this is what kleidi's whole path costs
// on top of the unsealed KEK; the TPM itself is not on the per-call path of either.
//
//   node bench/raw/tpm.mjs --op encrypt|decrypt --concurrency 16 --duration-ms 5000 \
//     --tpm swtpm:127.0.0.1:PORT --node-keys FILE [--auth-file FILE]
// Prints one JSON report.
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { envelopeHeader } from '../../dist/domain/model/envelope.js';
import { TpmCommands } from '../../dist/adapters/outbound/tpm/tpm.commands.js';
import { readNodeKeys } from '../../dist/adapters/outbound/tpm/tpm.node-file.js';
import { TpmNode } from '../../dist/adapters/outbound/tpm/tpm.node.js';
import { SocketTransport } from '../../dist/adapters/outbound/tpm/tpm.socket-transport.js';
import { closedLoop, parseFlags } from '../lib/driver.mjs';

const f = parseFlags(process.argv.slice(2));
const op = f.op;
if (op !== 'encrypt' && op !== 'decrypt') throw new Error('--op encrypt|decrypt');
const m = /^swtpm:(127\.0\.0\.1):(\d+)$/.exec(f.tpm ?? '');
if (!m) throw new Error('the bench runs swtpm on loopback: --tpm swtpm:127.0.0.1:<port>');
const auth = f['auth-file']
  ? Buffer.from(readFileSync(f['auth-file'], 'utf8').replace(/\n$/, ''), 'utf8')
  : Buffer.alloc(0);

const transport = new SocketTransport(m[1], Number(m[2]));
const read = await readNodeKeys(f['node-keys']);
if (!read) throw new Error(`no node key file at ${f['node-keys']}`);
const current = read.keys.versions.find((v) => v.version === read.keys.current);
if (!current) throw new Error('the node key file names no current version');
const t0 = performance.now();
const [kek] = await new TpmNode(new TpmCommands(transport), auth).unseal(read.keys.srkName, [current]);
const unsealMs = performance.now() - t0;
await transport.close();
const key = createSecretKey(kek);
kek.fill(0);
const aad = envelopeHeader(current.keyId, 'aes-256-gcm');

const seal = (plain) => {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  c.setAAD(aad);
  const body = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  return { nonce, body };
};
const seed = randomBytes(32);
const sealed = seal(seed);
const open = async () => {
  const d = createDecipheriv('aes-256-gcm', key, sealed.nonce, { authTagLength: 16 });
  d.setAAD(aad);
  d.setAuthTag(sealed.body.subarray(-16));
  const out = Buffer.concat([d.update(sealed.body.subarray(0, -16)), d.final()]);
  if (!out.equals(seed)) throw new Error('decrypt returned other bytes');
};
const call = op === 'encrypt' ? async () => seal(randomBytes(32)) : open;
const report = await closedLoop(
  {
    op,
    concurrency: Number(f.concurrency ?? 1),
    durationMs: Number(f['duration-ms'] ?? 5000),
    warmupMs: Number(f['warmup-ms'] ?? 300),
  },
  call,
);
process.stdout.write(`${JSON.stringify({ ...report, backend: 'raw-tpm-commands', unsealMs }, null, 2)}\n`);
