// The raw Cloud KMS baseline (docs/benchmarks.md): the same CryptoKey kleidi's gcp backend uses,
// called directly with @google-cloud/kms (the client the adapter is built on) over the same TLS
// channel with the same service-account JWT, with the requests kleidi sends: Encrypt naming the
// primary CryptoKeyVersion and Decrypt naming the key, the envelope header as AAD, the CRC32C
// integrity fields sent and checked; one attempt with a 1 s deadline; no gRPC server, domain,
// retries or validation of kleidi's own. kleidi(gcp) ÷ this is what kleidi's whole path costs
// on top of the client and the server.
//
//   node bench/raw/gcp.mjs --op encrypt|decrypt --concurrency 16 --duration-ms 5000 \
//     --endpoint 127.0.0.1:PORT --ca-file ca.pem --credentials-file sa.json --key projects/…/cryptoKeys/kleidi
// Prints one JSON report.
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { JWT, GoogleAuth } from 'google-auth-library';
import { grpc } from 'google-gax';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { closedLoop, parseFlags } from '../lib/driver.mjs';

const f = parseFlags(process.argv.slice(2));
const op = f.op;
if (op !== 'encrypt' && op !== 'decrypt') throw new Error('--op encrypt|decrypt');
const concurrency = Number(f.concurrency ?? 1);
const [host, port] = String(f.endpoint).split(':');
if (host !== '127.0.0.1') throw new Error('the bench runs the Cloud KMS test server on loopback');

const sa = JSON.parse(readFileSync(f['credentials-file'], 'utf8'));
const jwt = new JWT({
  email: sa.client_email,
  key: sa.private_key,
  keyId: sa.private_key_id,
  scopes: ['https://www.googleapis.com/auth/cloud-platform'],
});
jwt.useJWTAccessWithScope = true;
jwt.defaultServicePath = 'cloudkms.googleapis.com';
const auth = new GoogleAuth({ authClient: jwt });
const sslCreds = grpc.credentials.combineChannelCredentials(
  grpc.credentials.createSsl(readFileSync(f['ca-file'])),
  grpc.credentials.createFromGoogleCredential({
    getRequestHeaders: async (url) => Object.fromEntries(await jwt.getRequestHeaders(url)),
  }),
);
const kms = new KeyManagementServiceClient({ auth, apiEndpoint: host, port: Number(port), sslCreds });
const options = { timeout: 1_000, retry: null };

// CRC32C (Castagnoli), as kleidi sends it.
const TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c >>> 0;
});
const crc32c = (data) => {
  let crc = 0xffffffff;
  for (const b of data) crc = TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
};

const [key] = await kms.getCryptoKey({ name: f.key }, options);
const version = key.primary.name;
// kleidi's AAD: the envelope header, magic 'K', format 1, scheme opaque (2), key_id length, key_id.
const keyId = `gcp:${version
  .replace(/\/cryptoKeyVersions\//, ':')
  .split('/')
  .filter((_, i) => i % 2 === 1)
  .join(':')}`;
const idBytes = Buffer.from(keyId);
const aad = Buffer.concat([Buffer.from([0x4b, 1, 2, idBytes.length >> 8, idBytes.length & 0xff]), idBytes]);

const encrypt = async (plaintext) => {
  const [out] = await kms.encrypt(
    {
      name: version,
      plaintext,
      additionalAuthenticatedData: aad,
      plaintextCrc32c: { value: crc32c(plaintext) },
      additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
    },
    options,
  );
  if (!out.verifiedPlaintextCrc32c || !out.verifiedAdditionalAuthenticatedDataCrc32c) throw new Error('not verified');
  if (Number(out.ciphertextCrc32c.value) !== crc32c(out.ciphertext)) throw new Error('ciphertext CRC32C mismatch');
  return out.ciphertext;
};
const seed = randomBytes(32);
const blob = await encrypt(seed);
const decrypt = async () => {
  const [out] = await kms.decrypt(
    {
      name: f.key,
      ciphertext: blob,
      additionalAuthenticatedData: aad,
      ciphertextCrc32c: { value: crc32c(blob) },
      additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
    },
    options,
  );
  if (Number(out.plaintextCrc32c.value) !== crc32c(out.plaintext)) throw new Error('plaintext CRC32C mismatch');
  if (!Buffer.from(out.plaintext).equals(seed)) throw new Error('decrypt returned other bytes');
};
const call = op === 'encrypt' ? () => encrypt(randomBytes(32)) : decrypt;
const report = await closedLoop(
  { op, concurrency, durationMs: Number(f['duration-ms'] ?? 5000), warmupMs: Number(f['warmup-ms'] ?? 300) },
  call,
);
await kms.close();
process.stdout.write(`${JSON.stringify({ ...report, backend: 'raw-gcp-client' }, null, 2)}\n`);
