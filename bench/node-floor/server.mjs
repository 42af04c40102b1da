// The Node floor of kleidi's benchmarks (docs/benchmarks.md): the least a Node KMSv2
// plugin on kleidi's own stack can do per call. @grpc/grpc-js with
// protobuf-es codecs and kleidi's generated descriptors, listening on the
// socket itself, and the same per-call cryptography as the Go reference
// (AES-256-GCM, random 96-bit nonce, key_id as AAD, one annotation checked on
// Decrypt). No deadline signal, validation, metrics, logging or layers.
// kleidi(local) ÷ this prices kleidi's own code; this ÷ the Go reference
// prices the runtime (Node's http2 + grpc-js against grpc-go).
//
//   node bench/node-floor/server.mjs serve --socket unix:///path.sock [--state-dir DIR]
// With --state-dir the key is kept in DIR/node-floor.key (restart-stable, for the storm).
// The same V8 heap settings as kleidi (first, like kleidi's main.ts), so the two differ only in code.
import '../../dist/heap-tuning.js';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { KeyManagementService } from '../../dist/adapters/inbound/grpc/gen/kms/v2/api_pb.js';

const flag = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const socket = (flag('socket') ?? '').replace(/^unix:\/\//, '');
if (!socket) throw new Error('--socket is required');
const stateDir = flag('state-dir');

function loadKey() {
  if (!stateDir) return randomBytes(32);
  const path = join(stateDir, 'node-floor.key');
  try {
    return readFileSync(path);
  } catch {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    writeFileSync(path, key, { mode: 0o600 });
    return key;
  }
}

const key = loadKey();
const KEY_ID = 'node-floor:v1';
const AAD = Buffer.from(KEY_ID);
const ANNOTATION = 'version.kleidi.io';
const ONE = new Uint8Array([0x31]);

const handlers = {
  status: () => ({ version: 'v2', healthz: 'ok', keyId: KEY_ID }),
  encrypt: (req) => {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(AAD);
    const body = Buffer.concat([nonce, c.update(req.plaintext), c.final(), c.getAuthTag()]);
    return { ciphertext: body, keyId: KEY_ID, annotations: { [ANNOTATION]: ONE } };
  },
  decrypt: (req) => {
    const a = req.annotations[ANNOTATION];
    if (req.keyId !== KEY_ID || !a || a.length !== 1 || a[0] !== 0x31)
      throw Object.assign(new Error('bad request'), { code: grpc.status.INVALID_ARGUMENT });
    const ct = req.ciphertext;
    const d = createDecipheriv('aes-256-gcm', key, ct.subarray(0, 12));
    d.setAAD(AAD);
    d.setAuthTag(ct.subarray(ct.length - 16));
    return { plaintext: Buffer.concat([d.update(ct.subarray(12, ct.length - 16)), d.final()]) };
  },
};

const definition = {};
const impl = {};
for (const m of KeyManagementService.methods) {
  definition[m.localName] = {
    path: `/${KeyManagementService.typeName}/${m.name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (msg) => Buffer.from(toBinary(m.input, create(m.input, msg))),
    requestDeserialize: (buf) => fromBinary(m.input, buf),
    responseSerialize: (msg) => Buffer.from(toBinary(m.output, create(m.output, msg))),
    responseDeserialize: (buf) => fromBinary(m.output, buf),
  };
  impl[m.localName] = (call, callback) => {
    try {
      callback(null, handlers[m.localName](call.request));
    } catch (err) {
      callback({ code: err.code ?? grpc.status.INTERNAL, details: err.message });
    }
  };
}

rmSync(socket, { force: true });
process.umask(0o177);
const server = new grpc.Server();
server.addService(definition, impl);
server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => server.tryShutdown(() => process.exit(0)));
}
