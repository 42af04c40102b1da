import {
  BackendMisconfiguredError,
  BackendUnavailableError,
  KeyUnusableError,
  KmsError,
} from '../../../domain/model/errors.js';
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
 * The TPM refused a PCR-bound object's policy session (TPM_RC_POLICY_FAIL): this boot's PCR
 * values are not those the node was provisioned with (a firmware, bootloader or Secure Boot
 * database change). The key exists but this TPM will not release it until the node is
 * provisioned again (docs/backends/tpm.md#pcr-change): a KeyUnusableError, which stops writes
 * until an operator acts. Not a wrong auth value: the TPM checks the session's policy digest
 * before the auth value and counts no dictionary-attack failure for a mismatch (the reliability
 * campaign's "PCR change" fault reads TPM_PT_LOCKOUT_COUNTER to prove it), so trying again at
 * each refresh is harmless.
 */
export class TpmPcrPolicyError extends KeyUnusableError {}

/** Whether `err` is, or was caused by, a PCR policy refusal. */
export function isPcrPolicyFailure(err: unknown): boolean {
  if (err instanceof TpmPcrPolicyError) return true;
  if (err instanceof KmsError) return isPcrPolicyFailure(err.cause);
  return err instanceof TpmResponseError && baseCode(err.rc.code) === RC.POLICY_FAIL;
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
      // differs only when the PCR values differ from those enrolled. The reason comes first:
      // Status shows the first 160 characters (key-state-tracker.ts).
      return new TpmPcrPolicyError(
        `PCR values changed since provisioning (${err.rc.name} ${what}); re-enroll and re-provision this node: see docs/backends/tpm.md#pcr-change`,
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
