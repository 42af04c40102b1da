// Where should a PKCS#11 token call run? (docs/adr/0024-pkcs11-token-calls.md)
// Drives one SoftHSM2 token directly through pkcs11js, AES-256-GCM Decrypt of a 32-byte seed
// with a 40-byte AAD (kleidi's sizes), a pool of 4 sessions, N callers in a closed loop:
//   thread-pool  C_DecryptInit on the event loop, C_DecryptAsync on the libuv pool (kleidi's default)
//   event-loop   C_DecryptInit and C_Decrypt both inline (pkcs11.tokenCalls: event-loop)
//   worker       C_DecryptInit and C_Decrypt together in a worker thread per session
//                (pkcs11-call-worker.mjs), so no token call at all runs on the event loop
//
//   SOFTHSM2_CONF=… node bench/raw/pkcs11-call-modes.mjs --calls worker --concurrency 16 \
//     --duration-ms 2000 --token-label L --pin-file F [--module /usr/lib/softhsm/libsofthsm2.so]
// The key is a session object made here; prints one JSON line.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import pkcs11js from 'pkcs11js';
import { closedLoop, parseFlags, Pool } from '../lib/driver.mjs';

const f = parseFlags(process.argv.slice(2));
const calls = f.calls ?? 'thread-pool';
const modulePath = f.module ?? '/usr/lib/softhsm/libsofthsm2.so';
const lib = new pkcs11js.PKCS11();
lib.load(modulePath);
lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
const workers = [];
try {
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === f['token-label']);
  if (!slot) throw new Error(`no token labelled ${f['token-label']}`);
  const anchor = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  lib.C_Login(anchor, pkcs11js.CKU_USER, readFileSync(f['pin-file'], 'utf8').trim());
  const C = pkcs11js;
  const key = lib.C_GenerateKey(anchor, { mechanism: C.CKM_AES_KEY_GEN }, [
    { type: C.CKA_CLASS, value: C.CKO_SECRET_KEY },
    { type: C.CKA_KEY_TYPE, value: C.CKK_AES },
    { type: C.CKA_VALUE_LEN, value: 32 },
    { type: C.CKA_ENCRYPT, value: true },
    { type: C.CKA_DECRYPT, value: true },
    { type: C.CKA_TOKEN, value: false },
  ]);
  const sessions = Array.from({ length: 4 }, () => lib.C_OpenSession(slot, C.CKF_SERIAL_SESSION));
  const iv = randomBytes(12);
  const aad = Buffer.alloc(40, 7);
  const mech = { mechanism: C.CKM_AES_GCM, parameter: { type: C.CK_PARAMS_GCM, iv, ivBits: 96, aad, tagBits: 128 } };
  const seed = randomBytes(32);
  lib.C_EncryptInit(sessions[0], mech, key);
  const sealed = lib.C_Encrypt(sessions[0], seed, Buffer.alloc(48));
  const decrypt = {
    'thread-pool': (s) => {
      lib.C_DecryptInit(s, mech, key);
      return lib.C_DecryptAsync(s, sealed, Buffer.alloc(48));
    },
    'event-loop': async (s) => {
      lib.C_DecryptInit(s, mech, key);
      return lib.C_Decrypt(s, sealed, Buffer.alloc(48));
    },
    worker: workerDecrypt(sessions),
  }[calls];
  if (!decrypt) throw new Error('--calls thread-pool|event-loop|worker');
  const pool = new Pool(sessions);
  const report = await closedLoop(
    {
      op: 'decrypt',
      concurrency: Number(f.concurrency ?? 1),
      durationMs: Number(f['duration-ms'] ?? 2000),
      warmupMs: 500,
    },
    () => pool.use(decrypt),
  );
  const o = report.ops.decrypt;
  const line = {
    calls,
    concurrency: report.concurrency,
    per_s: Math.round(o.throughput_per_s),
    p50_ms: o.latency_ms.p50,
    p99_ms: o.latency_ms.p99,
    cpu_us_per_op: Math.round((report.cpu_s * 1e6) / Math.max(1, o.count)),
    errors: o.errors,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);

  /** One worker per session: it loads its own pkcs11js binding of the same, already initialised module. */
  function workerDecrypt(all) {
    const bySession = new Map();
    for (const s of all) {
      const w = new Worker(new URL('./pkcs11-call-worker.mjs', import.meta.url), {
        workerData: { module: modulePath },
      });
      workers.push(w);
      const pending = [];
      w.on('message', (m) => {
        const p = pending.shift();
        if (m.err) p.reject(new Error(m.err));
        else p.resolve(m.out);
      });
      bySession.set(
        s,
        (msg) => new Promise((resolve, reject) => pending.push({ resolve, reject }) && w.postMessage(msg)),
      );
    }
    return (s) => bySession.get(s)({ session: s, key, iv, aad, input: sealed });
  }
} finally {
  for (const w of workers) await w.terminate();
  lib.C_Finalize();
}
