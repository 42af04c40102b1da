import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import { fileStamp } from '../shared/file-stamp.js';
import { readSecretFile } from '../shared/secret-file.js';

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
  const origin = `PIN file ${source.file}`;
  // SECURITY: the rule ssh applies to private keys (readSecretFile); a readable PIN file leaks the token.
  const { text } = await readSecretFile(source.file, { what: 'PIN file', maxBytes: MAX_PIN_BYTES + 2 });
  return { value: checked(text.replace(/\r?\n$/, ''), origin), origin };
}

function checked(pin: string, origin: string): string {
  if (pin.length === 0) throw new BackendMisconfiguredError(`${origin} is empty`);
  if (Buffer.byteLength(pin) > MAX_PIN_BYTES) throw new BackendMisconfiguredError(`${origin} is too long for a PIN`);
  return pin;
}

/** A cheap identity of the PIN file, to notice an operator's fix without re-reading on every call. */
export async function pinSourceStamp(source: PinSource): Promise<string> {
  return source.file === undefined ? 'env' : ((await fileStamp(source.file, { followLinks: false })) ?? 'missing');
}
