import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  DecryptRequestSchema,
  DecryptResponseSchema,
  EncryptRequestSchema,
  EncryptResponseSchema,
  StatusRequestSchema,
  StatusResponseSchema,
  type DecryptRequest,
} from '#src/adapters/inbound/grpc/gen/kms/v2/api_pb.js';

/**
 * A gRPC fuzzer for a running kleidi: random bytes, random protobuf fields,
 * mutations of valid requests, boundary sizes, unknown methods and tiny
 * deadlines, each sent as a raw request body. Every answer is checked against
 * the set of codes documented for its input (docs/architecture.md, error
 * taxonomy; the apiserver limits in src/domain/model/limits.ts), and a Decrypt that
 * answers OK must return exactly the seed that was encrypted.
 *
 * The expected codes come from the KMSv2 contract and the proto (decoded with
 * the generated schema), not from kleidi's domain code.
 */

export const CODE = grpc.status;
type Code = number;
type Method = 'Status' | 'Encrypt' | 'Decrypt';

interface FuzzCase {
  readonly cls: string;
  readonly path: string;
  readonly body: Uint8Array;
  readonly deadlineMs: number;
  readonly expected: ReadonlySet<Code>;
  /** For a Decrypt that may answer OK: the seed it must return. */
  readonly seed?: Uint8Array;
  /**
   * Sent on a connection of its own: a client that cancels calls at once
   * (RST_STREAM right after the request) may have its whole connection closed
   * by Node's HTTP/2 rapid-reset protection (nghttp2: a burst of 1000 resets,
   * then 33/s; GOAWAY INTERNAL_ERROR, CVE-2023-44487). That must not touch
   * the other connections.
   */
  readonly cancelling?: boolean;
}

interface ClassStats {
  sent: number;
  codes: Record<string, number>;
  unexpected: number;
  wrong: number;
  badResponse: number;
  /** Calls failed because the server closed their (cancelling) connection: rapid-reset protection. */
  connectionClosed: number;
  expected: string[];
  examples: string[];
}

export interface FuzzReport {
  readonly seed: number;
  readonly requests: number;
  readonly ms: number;
  readonly byClass: Record<string, ClassStats>;
  readonly unexpected: number;
  readonly wrong: number;
}

/** A known-good request and what it must decrypt to. */
export interface ValidSample {
  readonly seed: Uint8Array;
  readonly encrypt: Uint8Array;
  readonly decrypt: Uint8Array;
  readonly decryptReq: DecryptRequest;
}

const SVC = '/v2.KeyManagementService/';
const enc = new TextEncoder();

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const bytes = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = int(0, 255);
    return b;
  };
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)]!;
  return { next, int, bytes, pick };
}
type Rng = ReturnType<typeof prng>;

// ---- protobuf wire helpers (independent of the schema) ----
function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
function field(num: number, wire: number, payload: Uint8Array | number[] = []): Uint8Array {
  return Uint8Array.from([...varint((num << 3) | wire), ...payload]);
}
function lenField(num: number, data: Uint8Array): Uint8Array {
  return concat(field(num, 2), Uint8Array.from(varint(data.length)), data);
}
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const SCHEMA = { Status: StatusRequestSchema, Encrypt: EncryptRequestSchema, Decrypt: DecryptRequestSchema } as const;

/** What the contract says a decodable request must get, or undefined when the body is not valid protobuf. */
function decodable(method: Method, body: Uint8Array): unknown {
  try {
    return fromBinary(SCHEMA[method], body);
  } catch {
    return undefined;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function annotationsEqual(a: Record<string, Uint8Array>, b: Record<string, Uint8Array>): boolean {
  const ak = Object.keys(a).sort();
  const bk = Object.keys(b).sort();
  return ak.length === bk.length && ak.every((k, i) => k === bk[i] && bytesEqual(a[k]!, b[k]!));
}

export interface Oracle {
  /** Largest plaintext whose envelope fits 1024 bytes with this backend's key_id (undefined: not known for an opaque backend). */
  readonly maxPlaintext: number | undefined;
  readonly valid: readonly ValidSample[];
}

/**
 * The documented codes for a request body (docs/architecture.md error table):
 * not protobuf → INVALID_ARGUMENT; Status → OK; Encrypt → OK within the
 * limits, else INVALID_ARGUMENT; Decrypt → OK only for a ciphertext kleidi
 * issued (with its key_id and annotations), otherwise INVALID_ARGUMENT
 * (malformed, tampered, mismatched) or NOT_FOUND (a well-formed envelope under
 * a key_id the backend does not hold).
 */
function expectedFor(method: Method, body: Uint8Array, oracle: Oracle): { expected: Set<Code>; seed?: Uint8Array } {
  if (body.length > 64 * 1024) return { expected: new Set([CODE.RESOURCE_EXHAUSTED]) };
  const msg = decodable(method, body);
  if (msg === undefined) return { expected: new Set([CODE.INVALID_ARGUMENT]) };
  if (method === 'Status') return { expected: new Set([CODE.OK]) };
  if (method === 'Encrypt') {
    const n = (msg as { plaintext: Uint8Array }).plaintext.length;
    if (n === 0 || n > 1024) return { expected: new Set([CODE.INVALID_ARGUMENT]) };
    if (oracle.maxPlaintext === undefined) return { expected: new Set([CODE.OK, CODE.INVALID_ARGUMENT]) };
    return { expected: new Set([n <= oracle.maxPlaintext ? CODE.OK : CODE.INVALID_ARGUMENT]) };
  }
  const d = msg as DecryptRequest;
  const keyIdBytes = enc.encode(d.keyId).length;
  if (keyIdBytes === 0 || keyIdBytes > 1024 || d.ciphertext.length === 0 || d.ciphertext.length > 1024) {
    return { expected: new Set([CODE.INVALID_ARGUMENT]) };
  }
  const same = oracle.valid.find(
    (v) =>
      bytesEqual(v.decryptReq.ciphertext, d.ciphertext) &&
      v.decryptReq.keyId === d.keyId &&
      annotationsEqual(v.decryptReq.annotations, d.annotations),
  );
  if (same) return { expected: new Set([CODE.OK]), seed: same.seed };
  return { expected: new Set([CODE.INVALID_ARGUMENT, CODE.NOT_FOUND]) };
}

// ---- generators ----
function randomBody(r: Rng): Uint8Array {
  const roll = r.next();
  const n = roll < 0.7 ? r.int(0, 64) : roll < 0.95 ? r.int(65, 1100) : r.int(1101, 4096);
  return r.bytes(n);
}

/** Well-formed protobuf made of random fields: unknown numbers, wrong wire types for known ones, nested garbage. */
function randomFields(r: Rng): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = r.int(1, 6); i > 0; i--) {
    const num = r.pick([1, 2, 3, 4, 4, 5, 15, 16, 536870911]);
    switch (r.int(0, 3)) {
      case 0:
        parts.push(field(num, 0, varint(r.pick([0, 1, 127, 128, 2 ** 31, 2 ** 53 - 1]))));
        break;
      case 1:
        parts.push(field(num, 1, Array.from(r.bytes(8))));
        break;
      case 2:
        parts.push(lenField(num, r.next() < 0.3 ? randomFields(r) : r.bytes(r.int(0, r.pick([4, 40, 1100])))));
        break;
      default:
        parts.push(field(num, 5, Array.from(r.bytes(4))));
    }
  }
  return concat(...parts);
}

/** Byte-level mutations of an encoded request. */
function mutateBytes(r: Rng, b: Uint8Array): { body: Uint8Array; how: string } {
  const c = new Uint8Array(b);
  switch (r.int(0, 6)) {
    case 0: {
      const i = r.int(0, Math.max(0, c.length - 1));
      c[i] = (c[i] ?? 0) ^ (1 << r.int(0, 7));
      return { body: c, how: 'bit flip' };
    }
    case 1: {
      const i = r.int(0, Math.max(0, c.length - 1));
      c[i] = r.int(0, 255);
      return { body: c, how: 'byte replaced' };
    }
    case 2:
      return { body: c.subarray(0, r.int(0, Math.max(0, c.length - 1))), how: 'truncated' };
    case 3: {
      const i = r.int(0, c.length);
      return { body: concat(c.subarray(0, i), r.bytes(r.int(1, 8)), c.subarray(i)), how: 'bytes inserted' };
    }
    case 4: {
      const i = r.int(0, Math.max(0, c.length - 1));
      return { body: concat(c.subarray(0, i), c.subarray(i + r.int(1, 8))), how: 'bytes deleted' };
    }
    case 5:
      return { body: concat(c, c), how: 'message repeated (fields merged)' };
    default:
      return { body: concat(c, field(r.pick([6, 7, 99]), 0, varint(r.int(0, 1000)))), how: 'unknown field appended' };
  }
}

/** Field-level mutations of a valid Decrypt request, re-encoded with the schema. */
function mutateDecrypt(r: Rng, v: ValidSample, all: readonly ValidSample[]): { body: Uint8Array; how: string } {
  const d = v.decryptReq;
  const ct = new Uint8Array(d.ciphertext);
  const keyIdLen = enc.encode(d.keyId).length;
  const headerLen = 5 + keyIdLen;
  const make = (
    over: Partial<{ ciphertext: Uint8Array; keyId: string; annotations: Record<string, Uint8Array>; uid: string }>,
    how: string,
  ) => ({
    body: toBinary(
      DecryptRequestSchema,
      create(DecryptRequestSchema, {
        uid: d.uid,
        ciphertext: d.ciphertext,
        keyId: d.keyId,
        annotations: d.annotations,
        ...over,
      }),
    ),
    how,
  });
  const flipAt = (lo: number, hi: number, how: string) => {
    const c = new Uint8Array(ct);
    const i = r.int(lo, Math.max(lo, Math.min(hi, c.length - 1)));
    c[i] = (c[i] ?? 0) ^ (1 << r.int(0, 7));
    return make({ ciphertext: c }, how);
  };
  switch (r.int(0, 12)) {
    case 0:
      return flipAt(0, headerLen - 1, 'ciphertext header bit flip');
    case 1:
      return flipAt(headerLen, headerLen + 11, 'nonce bit flip');
    case 2:
      return flipAt(headerLen + 12, ct.length - 17, 'sealed seed bit flip');
    case 3:
      return flipAt(ct.length - 16, ct.length - 1, 'tag bit flip');
    case 4:
      return make({ ciphertext: ct.subarray(0, r.int(0, ct.length - 1)) }, 'ciphertext truncated');
    case 5:
      return make({ ciphertext: concat(ct, r.bytes(r.int(1, 32))) }, 'ciphertext extended');
    case 6:
      return make({ keyId: `${d.keyId}${r.pick(['x', '0', ' ', 'é'])}` }, 'key_id changed');
    case 7: {
      // Consistent re-keying: the envelope and the request name the same unknown key_id.
      const other = d.keyId.replace(/.$/, (ch) => (ch === '0' ? '1' : '0'));
      const id = enc.encode(other);
      const c = concat(
        ct.subarray(0, 3),
        Uint8Array.from([id.length >> 8, id.length & 0xff]),
        id,
        ct.subarray(headerLen),
      );
      return make({ ciphertext: c, keyId: other }, 'envelope and request re-keyed to another key_id');
    }
    case 8:
      return make({ annotations: {} }, 'annotations removed');
    case 9:
      return make(
        {
          annotations: {
            ...d.annotations,
            [r.pick(['extra.example.io', 'a.b', 'version.kleidi.io.'])]: r.bytes(r.int(0, 8)),
          },
        },
        'annotation added',
      );
    case 10:
      return make(
        { annotations: Object.fromEntries(Object.keys(d.annotations).map((k) => [k, r.bytes(r.int(0, 3))])) },
        'annotation value changed',
      );
    case 11:
      return make({ uid: r.pick(['', 'x', '\u0000', 'ü'.repeat(r.int(1, 300))]) }, 'uid changed (must still decrypt)');
    default:
      // Another valid ciphertext under the same key_id: it decrypts, to *that* request's seed, so
      // unless it is the same sample the expectation is "not OK" (its annotations and key_id match).
      return make({ ciphertext: r.pick(all).decryptReq.ciphertext }, 'ciphertext of another request');
  }
}

/** Exact boundary cases: sizes at and around every limit the contract names. */
function boundaryCases(oracle: Oracle, valid: ValidSample): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const add = (cls: string, method: Method, body: Uint8Array) => {
    const e = expectedFor(method, body, oracle);
    cases.push({
      cls,
      path: SVC + method,
      body,
      deadlineMs: 3_000,
      expected: e.expected,
      ...(e.seed ? { seed: e.seed } : {}),
    });
  };
  const max = oracle.maxPlaintext ?? 900;
  for (const n of [0, 1, 16, 31, 32, 33, 64, max - 1, max, max + 1, 1023, 1024, 1025, 4096, 60_000]) {
    add(
      'boundary: Encrypt plaintext size',
      'Encrypt',
      toBinary(
        EncryptRequestSchema,
        create(EncryptRequestSchema, { plaintext: new Uint8Array(Math.max(0, n)).fill(7), uid: 'b' }),
      ),
    );
  }
  const d = valid.decryptReq;
  for (const n of [0, 1, 1023, 1024, 1025, 4096]) {
    add(
      'boundary: Decrypt key_id size',
      'Decrypt',
      toBinary(DecryptRequestSchema, create(DecryptRequestSchema, { ...d, keyId: 'k'.repeat(n) })),
    );
  }
  for (const n of [0, 1, 5, 1024, 1025, 60_000]) {
    add(
      'boundary: Decrypt ciphertext size',
      'Decrypt',
      toBinary(DecryptRequestSchema, create(DecryptRequestSchema, { ...d, ciphertext: new Uint8Array(n).fill(0x4b) })),
    );
  }
  for (const [count, size] of [
    [1, 32_700],
    [1, 32_768],
    [2, 16_384],
    [1000, 1],
    [1, 60_000],
  ] as const) {
    const annotations = Object.fromEntries(
      Array.from({ length: count }, (_, i) => [`k${i}.example.io`, new Uint8Array(size)]),
    );
    add(
      'boundary: Decrypt annotations size',
      'Decrypt',
      toBinary(DecryptRequestSchema, create(DecryptRequestSchema, { ...d, annotations })),
    );
  }
  // The whole message at the server's 64 KiB receive limit and just over it: a uid (field 2)
  // padded so the body is exactly `total` bytes (tag 1 byte + 3-byte length varint + n).
  const base = toBinary(DecryptRequestSchema, create(DecryptRequestSchema, { ...d, uid: '' }));
  for (const total of [64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 200_000]) {
    const body = concat(base, lenField(2, new Uint8Array(total - base.length - 4).fill(0x61)));
    if (body.length !== total) throw new Error(`boundary body is ${body.length} bytes, not ${total}`);
    add('boundary: whole message at the 64 KiB limit', 'Decrypt', body);
  }
  add(
    'boundary: valid Decrypt with a 60 KiB uid',
    'Decrypt',
    toBinary(DecryptRequestSchema, create(DecryptRequestSchema, { ...d, uid: 'u'.repeat(60_000) })),
  );
  return cases;
}

/** One random case. */
function nextCase(r: Rng, oracle: Oracle): FuzzCase {
  const roll = r.next();
  const methods: Method[] = ['Status', 'Encrypt', 'Decrypt'];
  const build = (cls: string, method: Method, body: Uint8Array, deadlineMs = 3_000): FuzzCase => {
    const e = expectedFor(method, body, oracle);
    return { cls, path: SVC + method, body, deadlineMs, expected: e.expected, ...(e.seed ? { seed: e.seed } : {}) };
  };
  const v = r.pick(oracle.valid);
  if (roll < 0.28) {
    const m = r.pick(methods);
    return build(`random bytes → ${m}`, m, randomBody(r));
  }
  if (roll < 0.43) {
    const m = r.pick(methods);
    return build(`random protobuf fields → ${m}`, m, randomFields(r));
  }
  if (roll < 0.53) {
    const m = r.pick(['Encrypt', 'Status'] as const);
    const base = m === 'Encrypt' ? v.encrypt : toBinary(StatusRequestSchema, create(StatusRequestSchema, {}));
    return build(`mutated valid ${m} (bytes)`, m, mutateBytes(r, base).body);
  }
  if (roll < 0.68) return build('mutated valid Decrypt (bytes)', 'Decrypt', mutateBytes(r, v.decrypt).body);
  if (roll < 0.93) return build('mutated valid Decrypt (fields)', 'Decrypt', mutateDecrypt(r, v, oracle.valid).body);
  if (roll < 0.96) {
    const m = r.pick(methods);
    const body = m === 'Encrypt' ? v.encrypt : m === 'Decrypt' ? v.decrypt : new Uint8Array(0);
    const c = build('valid request, deadline 0–2 ms (own connection)', m, body, r.int(0, 2));
    return { ...c, expected: new Set([...c.expected, CODE.DEADLINE_EXCEEDED]), cancelling: true };
  }
  const path = r.pick([
    '/v2.KeyManagementService/Foo',
    '/v2.KeyManagementService/encrypt',
    '/v1beta1.KeyManagementService/Encrypt',
    '/v2alpha1.KeyManagementService/Status',
    '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
    '/',
  ]);
  return {
    cls: 'unknown method',
    path,
    body: randomBody(r).subarray(0, 32),
    deadlineMs: 3_000,
    expected: new Set([CODE.UNIMPLEMENTED]),
  };
}

/** The raw client: any path, any body, the answer's bytes or its status. */
export class RawClient {
  private readonly client: grpc.Client;
  constructor(socket: string) {
    this.client = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': 1 << 20,
      'grpc.max_receive_message_length': 1 << 20,
      // Its own HTTP/2 connection: grpc-js otherwise shares one per target between all clients.
      'grpc.use_local_subchannel_pool': 1,
    });
  }
  call(path: string, body: Uint8Array, deadlineMs: number): Promise<{ code: Code; body?: Buffer; details?: string }> {
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        path,
        (b: Uint8Array) => Buffer.from(b),
        (b: Buffer) => b,
        body,
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, res) =>
          resolve(err ? { code: err.code, details: err.details } : { code: CODE.OK, ...(res ? { body: res } : {}) }),
      );
    });
  }
  close(): void {
    this.client.close();
  }
}

/** Encrypts `n` fresh seeds to get valid Encrypt and Decrypt requests to mutate. */
export async function validSamples(c: RawClient, n: number, seedFn: (i: number) => Uint8Array): Promise<ValidSample[]> {
  const out: ValidSample[] = [];
  for (let i = 0; i < n; i++) {
    const seed = seedFn(i);
    const encrypt = toBinary(
      EncryptRequestSchema,
      create(EncryptRequestSchema, { plaintext: seed, uid: `fuzz-valid-${i}` }),
    );
    const r = await c.call(`${SVC}Encrypt`, encrypt, 5_000);
    if (r.code !== CODE.OK || !r.body) throw new Error(`valid Encrypt failed with code ${r.code}: ${r.details}`);
    const resp = fromBinary(EncryptResponseSchema, r.body);
    const decryptReq = create(DecryptRequestSchema, {
      uid: `fuzz-valid-${i}`,
      ciphertext: resp.ciphertext,
      keyId: resp.keyId,
      annotations: resp.annotations,
    });
    out.push({ seed, encrypt, decrypt: toBinary(DecryptRequestSchema, decryptReq), decryptReq });
  }
  return out;
}

/** maxPlaintext for kleidi's AES-GCM envelope (local, pkcs11): header + nonce + plaintext + tag ≤ 1024. */
export function gcmMaxPlaintext(keyId: string): number {
  return 1024 - (5 + enc.encode(keyId).length + 12 + 16);
}

function checkResponse(c: FuzzCase, res: { code: Code; body?: Buffer }): 'ok' | 'wrong' | 'bad' {
  if (res.code !== CODE.OK || !res.body) return 'ok';
  try {
    if (c.path.endsWith('/Decrypt')) {
      const p = fromBinary(DecryptResponseSchema, res.body).plaintext;
      return c.seed && bytesEqual(p, c.seed) ? 'ok' : 'wrong';
    }
    if (c.path.endsWith('/Encrypt')) {
      const e = fromBinary(EncryptResponseSchema, res.body);
      const kid = enc.encode(e.keyId).length;
      return kid >= 1 && kid <= 1024 && e.ciphertext.length >= 1 && e.ciphertext.length <= 1024 ? 'ok' : 'bad';
    }
    const s = fromBinary(StatusResponseSchema, res.body);
    return s.version === 'v2' && s.keyId.length > 0 ? 'ok' : 'bad';
  } catch {
    return 'bad';
  }
}

/**
 * Sends `count` cases (boundary cases first, then random ones) with at most
 * `concurrency` in flight, and tallies the codes per input class.
 */
export async function runFuzz(opts: {
  socket: string;
  count: number;
  seed: number;
  oracle: Oracle;
  concurrency?: number;
  clients?: number;
  onProgress?: (sent: number) => void | Promise<void>;
  progressEvery?: number;
}): Promise<FuzzReport> {
  const r = prng(opts.seed);
  const clients = Array.from({ length: opts.clients ?? 2 }, () => new RawClient(opts.socket));
  const canceller = new RawClient(opts.socket);
  const byClass: Record<string, ClassStats> = {};
  const boundary = boundaryCases(opts.oracle, opts.oracle.valid[0]!);
  let unexpected = 0;
  let wrong = 0;
  const t0 = Date.now();
  const tally = (c: FuzzCase, res: { code: Code; body?: Buffer; details?: string }) => {
    const s = (byClass[c.cls] ??= {
      sent: 0,
      codes: {},
      unexpected: 0,
      wrong: 0,
      badResponse: 0,
      connectionClosed: 0,
      expected: [],
      examples: [],
    });
    s.sent++;
    if (c.cancelling && res.code === CODE.INTERNAL && /Session closed with error code 2/.test(res.details ?? '')) {
      s.connectionClosed++;
      s.codes['INTERNAL (connection closed by rapid-reset protection)'] =
        (s.codes['INTERNAL (connection closed by rapid-reset protection)'] ?? 0) + 1;
      return;
    }
    const name = grpc.status[res.code] ?? String(res.code);
    s.codes[name] = (s.codes[name] ?? 0) + 1;
    for (const e of c.expected) {
      const en = grpc.status[e] ?? String(e);
      if (!s.expected.includes(en)) s.expected.push(en);
    }
    const check = checkResponse(c, res);
    if (check === 'wrong') {
      s.wrong++;
      wrong++;
    }
    if (check === 'bad') s.badResponse++;
    if (!c.expected.has(res.code)) {
      s.unexpected++;
      unexpected++;
      if (s.examples.length < 3) {
        s.examples.push(
          `${c.path} got ${name} (${res.details ?? ''}); expected ${[...c.expected].map((x) => grpc.status[x]).join('|')}; body ${Buffer.from(c.body.subarray(0, 48)).toString('hex')}${c.body.length > 48 ? `… (${c.body.length} bytes)` : ''}`,
        );
      }
    }
  };
  const inFlight = new Set<Promise<void>>();
  const limit = opts.concurrency ?? 32;
  for (let i = 0; i < opts.count; i++) {
    const c = i < boundary.length ? boundary[i]! : nextCase(r, opts.oracle);
    const client = c.cancelling ? canceller : clients[i % clients.length]!;
    const p = client.call(c.path, c.body, c.deadlineMs).then((res) => tally(c, res));
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= limit) await Promise.race(inFlight);
    if (opts.onProgress && opts.progressEvery && (i + 1) % opts.progressEvery === 0) {
      await Promise.all(inFlight);
      await opts.onProgress(i + 1);
    }
  }
  await Promise.all(inFlight);
  for (const c of [...clients, canceller]) c.close();
  return { seed: opts.seed, requests: opts.count, ms: Date.now() - t0, byClass, unexpected, wrong };
}
