import type { DecodedResponseCode } from './tpm.response-code.js';

/** The TPM answered a command with a non-zero response code. */
export class TpmResponseError extends Error {
  override readonly name = 'TpmResponseError';

  constructor(
    readonly command: string,
    readonly rc: DecodedResponseCode,
  ) {
    super(`TPM2_${command} failed: ${rc.text}`);
  }
}

/** Bytes that are not a well-formed TPM structure (a truncated response, a corrupt blob). */
export class TpmFormatError extends Error {
  override readonly name = 'TpmFormatError';
}

/** The TPM could not be reached, or the connection broke mid-command. */
export class TpmTransportError extends Error {
  override readonly name = 'TpmTransportError';
}
