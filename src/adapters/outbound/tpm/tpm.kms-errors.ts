import { BackendMisconfiguredError, BackendUnavailableError, KmsError } from '../../../domain/model/errors.js';
import { TpmFormatError, TpmResponseError, TpmTransportError } from './tpm.errors.js';
import { baseCode, RC } from './tpm.response-code.js';

/**
 * The TPM refused an authorisation (TPM_RC_AUTH_FAIL, TPM_RC_BAD_AUTH): the same
 * command with the same auth value would fail again and count once more toward
 * dictionary-attack lockout (Part 1 §19.8.4), so it must not be sent again.
 */
export function isWrongAuth(err: unknown): boolean {
  const rc = err instanceof TpmResponseError ? baseCode(err.rc.code) : undefined;
  return rc === RC.AUTH_FAIL || rc === RC.BAD_AUTH;
}

/**
 * Translates a TPM failure into a KmsError kind on the response code (never
 * on message text). `what` names the operation: "unsealing KEK version 2".
 */
export function toKmsError(err: unknown, what: string): KmsError {
  if (err instanceof KmsError) return err;
  if (err instanceof TpmTransportError) return new BackendUnavailableError(`${what}: ${err.message}`, { cause: err });
  if (err instanceof TpmFormatError) return new BackendMisconfiguredError(`${what}: ${err.message}`, { cause: err });
  if (err instanceof TpmResponseError) {
    const rc = baseCode(err.rc.code);
    const named = `${what}: ${err.message}`;
    if (rc === RC.AUTH_FAIL || rc === RC.BAD_AUTH) {
      return new BackendMisconfiguredError(
        `${named}; the auth value (tpm.authFile) is wrong. kleidi does not retry: each wrong attempt counts toward the TPM's dictionary-attack lockout`,
        { cause: err },
      );
    }
    if (rc === RC.LOCKOUT) {
      return new BackendUnavailableError(
        `${named}; the TPM is in dictionary-attack lockout: wait for its recovery time or reset it with the lockout authorization (tpm2_dictionarylockout -c)`,
        { cause: err },
      );
    }
    if (rc === RC.POLICY_FAIL) {
      // The object's authPolicy is PolicyPCR + PolicyPassword (tpm.pcrs): the session's digest
      // differs only when the PCR values differ from those enrolled. Not an auth failure: the TPM
      // counts nothing toward lockout, and kleidi does not mark it as a wrong auth value.
      return new BackendMisconfiguredError(
        `${named}; PCR values changed since provisioning; re-enroll and re-provision this node: see docs/backends/tpm.md#pcr-change`,
        { cause: err },
      );
    }
    if (rc === RC.INTEGRITY) {
      return new BackendMisconfiguredError(
        `${named}; the blob is corrupt or was made for another TPM: provision this node again`,
        {
          cause: err,
        },
      );
    }
    if (rc === RC.OBJECT_MEMORY) {
      return new BackendUnavailableError(
        `${named}; the TPM's transient object slots are full (held by another client: /dev/tpmrm0 would page them out)`,
        { cause: err },
      );
    }
    if (err.rc.warning) return new BackendUnavailableError(named, { cause: err });
    return new BackendMisconfiguredError(named, { cause: err });
  }
  return new BackendUnavailableError(`${what}: unexpected error`, { cause: err });
}
