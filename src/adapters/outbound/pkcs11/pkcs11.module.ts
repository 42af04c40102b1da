import { Module, type Slot, type Token } from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { TokenSelector } from './pkcs11.options.js';

/**
 * C_Initialize and C_Finalize act on the whole process (base v2.40 §5.4): a
 * second initialisation of the same library is refused, and a finalisation
 * pulls sessions from every other user. So one module path has one owner.
 */
const owned = new Set<string>();

/**
 * Loads and initialises a PKCS#11 module with CKF_OS_LOCKING_OK. Without that
 * flag pkcs11js passes flags = 0, which SoftHSM reads as "no threads" and
 * disables its mutexes; our *Async calls run on libuv worker threads, and that
 * combination segfaults under load (SoftHSM's C_Initialize,
 * https://github.com/softhsm/SoftHSMv2/blob/2.6.1/src/lib/SoftHSM.cpp; PKCS#11 base v2.40 §3.7,
 * http://docs.oasis-open.org/pkcs11/pkcs11-base/v2.40/os/pkcs11-base-v2.40-os.html).
 */
export function loadModule(path: string): Module {
  if (owned.has(path)) {
    throw new BackendMisconfiguredError(
      `PKCS#11 module ${path} is already initialised by another user in this process`,
    );
  }
  let module: Module;
  try {
    module = Module.load(path, 'kleidi');
  } catch (cause) {
    throw new BackendMisconfiguredError(`cannot load PKCS#11 module ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    module.initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (cause) {
    safely(() => module.close());
    throw cause;
  }
  owned.add(path);
  return module;
}

/** Finalises and unloads a module; errors are ignored because the token may already be gone. */
export function unloadModule(module: Module): void {
  safely(() => module.finalize());
  // dlclose, so the next load starts clean (SoftHSM re-reads SOFTHSM2_CONF on C_Initialize).
  safely(() => module.close());
  owned.delete(module.libFile);
}

/** The slot whose present token matches the selector, or undefined when none does right now. */
export function findSlot(module: Module, selector: TokenSelector): Slot | undefined {
  const slots = module.getSlots(true);
  for (let i = 0; i < slots.length; i++) {
    const slot = slots.items(i);
    if (selector.by === 'slot') {
      if (slotId(slot) === BigInt(selector.slot)) return slot;
      continue;
    }
    let token: Token;
    try {
      token = slot.getToken();
    } catch {
      continue; // a slot whose token vanished between the two calls
    }
    // Labels and serials are blank-padded fixed-size fields (CK_TOKEN_INFO); graphene trims them.
    if (selector.by === 'label' ? token.label === selector.label : token.serialNumber === selector.serial) return slot;
  }
  return undefined;
}

/** CK_SLOT_ID as a number-like value; handles are native-endian CK_ULONG buffers. */
export function slotId(slot: Slot): bigint {
  const h = slot.handle;
  return h.length >= 8 ? h.readBigUInt64LE(0) : BigInt(h.readUInt32LE(0));
}

/**
 * Whether the token still answers C_GetTokenInfo. Used to tell a vanished
 * token from a key-level failure when an ambiguous CK_RV comes back.
 */
export function tokenAnswers(lib: pkcs11js.PKCS11, slot: Buffer): boolean {
  try {
    lib.C_GetTokenInfo(slot);
    return true;
  } catch {
    return false;
  }
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // teardown of something that may already be broken
  }
}
