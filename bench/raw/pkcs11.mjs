// The raw PKCS#11 baseline (docs/benchmarks.md): the same SoftHSM token and KEK that
// kleidi's pkcs11 backend uses, driven directly through pkcs11js the way the
// adapter drives it (C_*Init on the JS thread, C_EncryptAsync/C_DecryptAsync
// on the libuv pool, one operation per session, a pool of the same size),
// without gRPC, the domain or any validation. kleidi(pkcs11) ÷ this is
// what kleidi's whole path costs on top of the token.
//
//   node bench/raw/pkcs11.mjs --op encrypt|decrypt --concurrency 16 --duration-ms 5000 \
//     --module /usr/lib/softhsm/libsofthsm2.so --token-label L --pin-file F --key-label kleidi-kek --pool 4
// SOFTHSM2_CONF selects the token directory. Prints one JSON report.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pkcs11js from 'pkcs11js';
import { closedLoop, parseFlags, Pool } from '../lib/driver.mjs';

const f = parseFlags(process.argv.slice(2));
const op = f.op;
if (op !== 'encrypt' && op !== 'decrypt') throw new Error('--op encrypt|decrypt');
const lib = new pkcs11js.PKCS11();
lib.load(f.module ?? '/usr/lib/softhsm/libsofthsm2.so');
// Without CKF_OS_LOCKING_OK SoftHSM disables its mutexes (C_Initialize in https://github.com/softhsm/SoftHSMv2/blob/2.6.1/src/lib/SoftHSM.cpp).
lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
try {
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === f['token-label']);
  if (!slot) throw new Error(`no token labelled ${f['token-label']}`);
  const anchor = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  lib.C_Login(anchor, pkcs11js.CKU_USER, readFileSync(f['pin-file'], 'utf8').trim());
  lib.C_FindObjectsInit(anchor, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_LABEL, value: f['key-label'] ?? 'kleidi-kek' },
  ]);
  const [key] = lib.C_FindObjects(anchor, 1);
  lib.C_FindObjectsFinal(anchor);
  if (!key) throw new Error(`no key labelled ${f['key-label']}`);
  const size = Number(f.pool ?? 4);
  const pool = new Pool(Array.from({ length: size }, () => lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION)));
  // kleidi's AAD is its envelope header (5 bytes + the key_id, about 40 bytes).
  const aad = Buffer.alloc(40, 7);
  const mech = (iv) => ({
    mechanism: pkcs11js.CKM_AES_GCM,
    parameter: { type: pkcs11js.CK_PARAMS_GCM, iv, ivBits: 96, aad, tagBits: 128 },
  });
  const encrypt = (session) => {
    const iv = randomBytes(12);
    const input = randomBytes(32);
    lib.C_EncryptInit(session, mech(iv), key);
    return lib.C_EncryptAsync(session, input, Buffer.alloc(48)).then((out) => ({ iv, input, out }));
  };
  const fixed = await pool.use(encrypt);
  const decrypt = (session) => {
    lib.C_DecryptInit(session, mech(fixed.iv), key);
    return lib.C_DecryptAsync(session, fixed.out, Buffer.alloc(48)).then((plain) => {
      if (!plain.equals(fixed.input)) throw new Error('decrypt returned other bytes');
    });
  };
  const call = op === 'encrypt' ? () => pool.use(encrypt) : () => pool.use(decrypt);
  const report = await closedLoop(
    {
      op,
      concurrency: Number(f.concurrency ?? 1),
      durationMs: Number(f['duration-ms'] ?? 5000),
      warmupMs: Number(f['warmup-ms'] ?? 300),
    },
    call,
  );
  process.stdout.write(`${JSON.stringify({ ...report, backend: 'raw-pkcs11', pool: size }, null, 2)}\n`);
} finally {
  lib.C_Finalize();
}
