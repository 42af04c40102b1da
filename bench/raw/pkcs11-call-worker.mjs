// The worker of pkcs11-call-modes.mjs --calls worker: C_DecryptInit and C_Decrypt for one session,
// off the main thread. C_Initialize is per process (base v2.40 §5.4): the main thread has done it.
import { parentPort, workerData } from 'node:worker_threads';
import pkcs11js from 'pkcs11js';

const lib = new pkcs11js.PKCS11();
lib.load(workerData.module);
parentPort.on('message', ({ session, key, iv, aad, input }) => {
  const mechanism = {
    mechanism: pkcs11js.CKM_AES_GCM,
    parameter: { type: pkcs11js.CK_PARAMS_GCM, iv: Buffer.from(iv), ivBits: 96, aad: Buffer.from(aad), tagBits: 128 },
  };
  const s = Buffer.from(session);
  const sealed = Buffer.from(input);
  try {
    lib.C_DecryptInit(s, mechanism, Buffer.from(key));
    parentPort.postMessage({ out: lib.C_Decrypt(s, sealed, Buffer.alloc(sealed.length)) });
  } catch (err) {
    parentPort.postMessage({ err: String(err) });
  }
});
