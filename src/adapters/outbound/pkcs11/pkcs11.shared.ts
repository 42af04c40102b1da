import { createHash } from 'node:crypto';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { Pkcs11Connection } from './pkcs11.connection.js';
import type { Pkcs11Options } from './pkcs11.options.js';

/** A counted reference to the process-wide connection for one module. */
export interface ConnectionLease {
  readonly connection: Pkcs11Connection;
  /** Idempotent; the last release logs out and finalises the module. */
  release(): Promise<void>;
}

interface Shared {
  readonly connection: Pkcs11Connection;
  readonly fingerprint: string;
  refs: number;
}

/**
 * C_Initialize is per process and login state is per application and token
 * (base v2.40 §5.4, §5.6), so a KeyWrapper and a KeyAdmin in one process (the
 * contract tests; a future in-process rotate) must share one connection
 * rather than initialise the module twice.
 */
const byModule = new Map<string, Shared>();

function leaseConnection(options: Pkcs11Options, log: Logger, clock: Clock): ConnectionLease {
  // SECURITY: a PIN from the environment is part of the options; only its hash is kept here.
  const fingerprint = createHash('sha256').update(JSON.stringify(options)).digest('hex');
  let shared = byModule.get(options.module);
  if (shared && shared.fingerprint !== fingerprint) {
    throw new BackendMisconfiguredError(
      `PKCS#11 module ${options.module} is already in use in this process with different settings`,
    );
  }
  if (!shared) {
    shared = { connection: new Pkcs11Connection(options, log, clock), fingerprint, refs: 0 };
    byModule.set(options.module, shared);
  }
  const s = shared;
  s.refs++;
  let released = false;
  return {
    connection: s.connection,
    release: async () => {
      if (released) return;
      released = true;
      if (--s.refs > 0) return;
      byModule.delete(options.module);
      await s.connection.close();
    },
  };
}

/**
 * Leases the connection and connects once. Configuration that can never work
 * (module path, PIN file mode) fails here, at startup. A missing token or a
 * refused PIN does not: the plugin stays up and reports unhealthy, because a
 * crash-looping plugin would present a wrong PIN again on every restart.
 */
export async function openConnection(options: Pkcs11Options, log: Logger, clock: Clock): Promise<ConnectionLease> {
  const lease = leaseConnection(options, log, clock);
  try {
    await lease.connection.connect();
  } catch (err) {
    if (err instanceof BackendMisconfiguredError && !lease.connection.pinRejected) {
      await lease.release();
      throw err;
    }
  }
  return lease;
}
