import { createHash } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { KmsError } from '../../../domain/model/errors.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { ckrOf, classifyCkr, toKmsError } from './pkcs11.errors.js';
import { pinSourceStamp, readPin, type Pin, type PinSource } from './pkcs11.pin.js';

/** While latched, the PIN file is looked at no more often than this. */
const RECHECK_MS = 2_000;

interface Latched {
  readonly error: KmsError;
  /** SHA-256 of the refused PIN, to recognise the same PIN again; SECURITY: not the PIN itself. */
  readonly refused: string;
  stamp: string;
  checkedAt: number;
}

/**
 * Guards C_Login. SECURITY: tokens count failed logins and lock the user PIN
 * (CKR_PIN_LOCKED) after a vendor-defined number (CKF_USER_PIN_COUNT_LOW,
 * CKF_USER_PIN_FINAL_TRY and CKF_USER_PIN_LOCKED in CK_TOKEN_INFO, PKCS#11 base
 * v2.40 §3.2, http://docs.oasis-open.org/pkcs11/pkcs11-base/v2.40/os/pkcs11-base-v2.40-os.html); a plugin
 * that retries a wrong PIN in a loop locks its own token. After a PIN-class refusal we never call
 * C_Login again with the same PIN: every call fails with the same
 * BackendMisconfiguredError until the PIN file holds a different PIN.
 */
export class PinLatch {
  private state: Latched | undefined;

  constructor(
    private readonly source: PinSource,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  get engaged(): boolean {
    return this.state !== undefined;
  }

  /** Throws the latched error unless the PIN source now holds a different PIN. */
  async check(): Promise<void> {
    const s = this.state;
    if (!s) return;
    const now = this.clock.monotonic();
    if (now - s.checkedAt < RECHECK_MS) throw s.error;
    s.checkedAt = now;
    const stamp = await pinSourceStamp(this.source);
    if (stamp === s.stamp) throw s.error;
    s.stamp = stamp;
    const pin = await readPin(this.source).catch(() => undefined);
    if (pin === undefined || digest(pin.value) === s.refused) throw s.error;
    this.state = undefined;
    this.log.info({ origin: pin.origin }, 'PKCS#11 PIN changed; allowing one new login attempt');
  }

  /** Runs C_Login once. A PIN-class refusal engages the latch; an existing login counts as success. */
  login(pin: Pin, stamp: string, doLogin: () => void, what: string): void {
    try {
      doLogin();
    } catch (err) {
      const code = ckrOf(err);
      if (code === pkcs11js.CKR_USER_ALREADY_LOGGED_IN) return;
      const error = toKmsError(err, `${what} with the ${pin.origin}`);
      if (classifyCkr(code) === 'pin') {
        this.state = { error, refused: digest(pin.value), stamp, checkedAt: this.clock.monotonic() };
        this.log.error({ kind: error.kind, reason: error.message }, 'PKCS#11 login refused; not retrying');
      }
      throw error;
    }
  }
}

function digest(pin: string): string {
  return createHash('sha256').update(pin).digest('hex');
}
