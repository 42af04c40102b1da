import { SessionFlag, type Module, type Session } from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import { BackendUnavailableError } from '../../../domain/model/errors.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { KeyCatalog } from './pkcs11.catalog.js';
import { ckrOf } from './pkcs11.errors.js';
import { keyCheckValue, type TokenCalls } from './pkcs11.gcm.js';
import { findKeks } from './pkcs11.keys.js';
import { findMarks, NO_MARKS } from './pkcs11.marks.js';
import { findSlot, slotId } from './pkcs11.module.js';
import { describeToken, keyPolicy, type Pkcs11Options } from './pkcs11.options.js';
import { SessionPool } from './pkcs11.session-pool.js';
import { deadline } from './pkcs11.timing.js';

/** A logged-in token: what every operation runs against. Replaced wholesale on reconnect. */
export interface LiveToken {
  readonly lib: pkcs11js.PKCS11;
  readonly slot: Buffer;
  /** CK_SLOT_ID in decimal, as `softhsm2-util --show-slots` prints it. */
  readonly slotId: string;
  /** R/W session holding the login, which all of our sessions share (base v2.40 §5.6 C_Login); sync calls only. */
  readonly anchor: Session;
  /** Crypto sessions, one operation in flight each. */
  readonly pool: SessionPool;
  /** Where C_Encrypt/C_Decrypt run (Pkcs11Options.tokenCalls). */
  readonly calls: TokenCalls;
  readonly catalog: KeyCatalog;
}

/**
 * Finds the token on an initialised module, opens the anchor session, logs
 * in through `login` (the PIN latch) and sets up the pool and key catalog.
 */
export function openToken(
  module: Module,
  options: Pkcs11Options,
  login: (anchor: Session) => void,
  clock: Clock,
  log: Logger,
): LiveToken {
  const slot = findSlot(module, options.token);
  if (!slot) throw new BackendUnavailableError(`no ${describeToken(options.token)} is present`);
  const anchor = openAnchor((flags) => slot.open(flags));
  login(anchor);
  const lib = module.lib;
  const pool = new SessionPool(
    options.sessionPoolSize,
    () => lib.C_OpenSession(slot.handle, pkcs11js.CKF_SERIAL_SESSION),
    (s) => lib.C_CloseSession(s),
  );
  const list = (onSkip: (why: string) => void) => {
    const found = findKeks(anchor, options.keyLabel, keyPolicy(options), onSkip);
    // SoftHSM lists nothing (no error) once its token directory is gone; ask the token itself,
    // so a vanished token reads as unavailable instead of "no key, run kleidi init".
    if (found.length === 0) lib.C_GetTokenInfo(slot.handle);
    return { keys: found, marks: found.length === 0 ? NO_MARKS : findMarks(anchor, options.keyLabel) };
  };
  // Scans are shared by concurrent callers, so check values run under their own deadline.
  const kcv = (key: Buffer) => {
    const d = deadline(new AbortController().signal, options.callTimeoutMs);
    return pool.use(d.signal, (s) => keyCheckValue(lib, s, key, options.tokenCalls)).finally(d.dispose);
  };
  const catalog = new KeyCatalog(options.keyLabel, list, kcv, clock, log);
  return { lib, slot: slot.handle, slotId: String(slotId(slot)), anchor, pool, catalog, calls: options.tokenCalls };
}

/** R/W so `kleidi init`/`rotate` can create token objects; R/O on a write-protected token. */
function openAnchor(open: (flags: number) => Session): Session {
  try {
    return open(SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION);
  } catch (err) {
    if (ckrOf(err) !== pkcs11js.CKR_TOKEN_WRITE_PROTECTED) throw err;
    return open(SessionFlag.SERIAL_SESSION);
  }
}
