import { readFile, stat } from 'node:fs/promises';
import { fileStamp } from '../shared/file-stamp.js';
import { BackendMisconfiguredError } from '../../../domain/model/errors.js';

/**
 * Where the user PIN comes from. SECURITY: never argv (visible in `ps` and
 * /proc/<pid>/cmdline), never config values; a file or an environment variable.
 */
export interface PinSource {
  /** Path of a file holding the PIN; must not be accessible by group or others. */
  readonly file?: string;
  /** The PIN taken from the environment (KLEIDI_PKCS11_PIN), already read by the composition. */
  readonly env?: string;
}

/** The PKCS#11 user PIN. SECURITY: never logged, never put in an error message. */
export interface Pin {
  readonly value: string;
  /** Where it came from, for messages: "PIN file /etc/kleidi/pin" or "KLEIDI_PKCS11_PIN". */
  readonly origin: string;
}

/** PINs longer than this are not PINs; it also bounds what we read from a wrong path. */
const MAX_PIN_BYTES = 256;

/** Reads the PIN, refusing group- or world-accessible PIN files. Throws BackendMisconfiguredError. */
export async function readPin(source: PinSource): Promise<Pin> {
  if (source.file !== undefined && source.env !== undefined) {
    throw new BackendMisconfiguredError('both a PKCS#11 PIN file and KLEIDI_PKCS11_PIN are set; set exactly one');
  }
  if (source.env !== undefined) return { value: checked(source.env, 'KLEIDI_PKCS11_PIN'), origin: 'KLEIDI_PKCS11_PIN' };
  if (source.file === undefined) {
    throw new BackendMisconfiguredError(
      'no PKCS#11 PIN configured: set pinFile (KLEIDI_PKCS11_PIN_FILE) or KLEIDI_PKCS11_PIN',
    );
  }
  const path = source.file;
  const origin = `PIN file ${path}`;
  let info;
  try {
    info = await stat(path);
  } catch (cause) {
    throw new BackendMisconfiguredError(`cannot read ${origin}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`, {
      cause,
    });
  }
  if (!info.isFile()) throw new BackendMisconfiguredError(`${origin} is not a regular file`);
  // SECURITY: the same rule ssh applies to private keys; a readable PIN file leaks the token.
  if ((info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
    throw new BackendMisconfiguredError(
      `${origin} has mode ${mode}; it must not be accessible by group or others (run: chmod 600 ${path})`,
    );
  }
  if (info.size > MAX_PIN_BYTES + 2) throw new BackendMisconfiguredError(`${origin} is too large to hold a PIN`);
  const raw = await readFile(path, 'utf8');
  return { value: checked(raw.replace(/\r?\n$/, ''), origin), origin };
}

function checked(pin: string, origin: string): string {
  if (pin.length === 0) throw new BackendMisconfiguredError(`${origin} is empty`);
  if (Buffer.byteLength(pin) > MAX_PIN_BYTES) throw new BackendMisconfiguredError(`${origin} is too long for a PIN`);
  return pin;
}

/** A cheap identity of the PIN file, to notice an operator's fix without re-reading on every call. */
export async function pinSourceStamp(source: PinSource): Promise<string> {
  return source.file === undefined ? 'env' : fileStamp(source.file);
}
