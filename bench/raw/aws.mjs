// The raw AWS KMS baseline (docs/benchmarks.md): the same KMS key kleidi's aws backend uses,
// called directly with @aws-sdk/client-kms (the library the adapter is built on), with the
// requests kleidi sends: Encrypt and Decrypt naming the key by ARN, the envelope header as
// encryption context, SYMMETRIC_DEFAULT; the SDK's default HTTP handler (keep-alive) with
// kleidi's default 1 s connection and request timeouts; no gRPC, domain, retries or
// validation. kleidi(aws) ÷ this is what kleidi's whole path costs on top of the SDK and KMS.
//
//   node bench/raw/aws.mjs --op encrypt|decrypt --concurrency 16 --duration-ms 5000 \
//     --endpoint http://127.0.0.1:PORT --region eu-west-2 [--key alias/kleidi]
// Credentials come from the SDK's default chain (the test server's AWS_* environment).
// Prints one JSON report.
import { randomBytes } from 'node:crypto';
import { DecryptCommand, DescribeKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { closedLoop, parseFlags } from '../lib/driver.mjs';

const f = parseFlags(process.argv.slice(2));
const op = f.op;
if (op !== 'encrypt' && op !== 'decrypt') throw new Error('--op encrypt|decrypt');
const concurrency = Number(f.concurrency ?? 1);
const endpoint = new URL(f.endpoint);
if (endpoint.protocol !== 'http:' || endpoint.hostname !== '127.0.0.1')
  throw new Error('the bench runs local-kms on plain http on loopback');

const kms = new KMSClient({
  region: f.region,
  endpoint: endpoint.origin,
  maxAttempts: 1,
  requestHandler: { connectionTimeout: 1_000, requestTimeout: 1_000 },
});
const { KeyMetadata: meta } = await kms.send(new DescribeKeyCommand({ KeyId: f.key ?? 'alias/kleidi' }));
const arn = meta?.Arn;
if (!arn) throw new Error(`DescribeKey ${f.key} returned no ARN`);
// kleidi's encryption context: envelope format and key_id (aws:<partition>:<region>:<account>:<key id>).
const [, partition, , region, account, resource] = arn.split(':');
const context = {
  'kleidi-format': '1',
  'kleidi-key-id': `aws:${partition}:${region}:${account}:${resource.replace(/^key\//, '')}`,
};

const encrypt = async (plain) => {
  const out = await kms.send(new EncryptCommand({ KeyId: arn, Plaintext: plain, EncryptionContext: context }));
  return out.CiphertextBlob;
};
const seed = randomBytes(32);
const blob = await encrypt(seed);
const decrypt = async () => {
  const out = await kms.send(
    new DecryptCommand({
      KeyId: arn,
      CiphertextBlob: blob,
      EncryptionContext: context,
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    }),
  );
  if (!Buffer.from(out.Plaintext ?? []).equals(seed)) throw new Error('decrypt returned other bytes');
};
const call = op === 'encrypt' ? () => encrypt(randomBytes(32)) : decrypt;
const report = await closedLoop(
  { op, concurrency, durationMs: Number(f['duration-ms'] ?? 5000), warmupMs: Number(f['warmup-ms'] ?? 300) },
  call,
);
kms.destroy();
process.stdout.write(`${JSON.stringify({ ...report, backend: 'raw-aws-sdk' }, null, 2)}\n`);
