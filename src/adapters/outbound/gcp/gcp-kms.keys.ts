import {
  BackendMisconfiguredError,
  BackendUnavailableError,
  KeyUnusableError,
  KeyVersionUnknownError,
} from '../../../domain/model/errors.js';
import type { KeyVersion } from '../../../domain/model/key-version.js';
import type { ICryptoKey, ICryptoKeyVersion } from './gcp-kms.client.js';
import { gcpKeyId, parseVersionName } from './gcp-kms.key-id.js';

/** The KeyVersion of a CryptoKeyVersion: its key_id, its version id as the order, its creation time. */
export function versionOf(v: ICryptoKeyVersion): KeyVersion {
  const ref = v.name ? parseVersionName(v.name) : undefined;
  if (!ref) throw new BackendUnavailableError(`Cloud KMS returned a version without a valid name (${v.name ?? ''})`);
  const createdAt = isoTime(v.createTime);
  return { keyId: gcpKeyId(ref), version: Number(ref.version), ...(createdAt ? { createdAt } : {}) };
}

/**
 * The primary version kleidi encrypts with, or why it cannot: the key must be for
 * ENCRYPT_DECRYPT (a misconfiguration, refused at startup) and have an ENABLED primary (a
 * key state: health reports it and writes stop until it is fixed).
 */
export function usablePrimary(key: ICryptoKey, name: string): ICryptoKeyVersion {
  if (key.purpose !== 'ENCRYPT_DECRYPT') {
    throw new BackendMisconfiguredError(
      `Cloud KMS key ${name} has purpose ${String(key.purpose ?? 'unknown')}; kleidi needs a symmetric ENCRYPT_DECRYPT key`,
    );
  }
  const primary = key.primary;
  if (!primary?.name) {
    throw new KeyUnusableError(
      `Cloud KMS key ${name} has no primary version: make an enabled version primary ` +
        '(gcloud kms keys set-primary-version) or run `kleidi rotate`',
    );
  }
  const problem = stateProblem(primary);
  if (problem) throw problem;
  return primary;
}

/** The error a version's state stands for, or undefined when it is ENABLED. */
export function stateProblem(
  v: ICryptoKeyVersion,
): KeyUnusableError | KeyVersionUnknownError | BackendUnavailableError | undefined {
  const name = v.name ?? 'the key version';
  switch (v.state) {
    case 'ENABLED':
      return undefined;
    case 'DISABLED':
      return new KeyUnusableError(
        `Cloud KMS key version ${name} is disabled: enable it (gcloud kms keys versions enable) ` +
          'or make an enabled version primary',
      );
    case 'DESTROY_SCHEDULED':
      return new KeyUnusableError(
        `Cloud KMS key version ${name} is scheduled for destruction${v.destroyTime ? ` at ${isoTime(v.destroyTime)}` : ''}: ` +
          'restore it (gcloud kms keys versions restore), or every secret written under it is lost',
      );
    case 'DESTROYED':
    case 'PENDING_EXTERNAL_DESTRUCTION':
    case 'EXTERNAL_DESTRUCTION_FAILED':
      return new KeyVersionUnknownError(
        `Cloud KMS key version ${name} is destroyed (${String(v.state)}): data under it cannot be decrypted`,
      );
    case 'PENDING_GENERATION':
    case 'PENDING_IMPORT':
      return new BackendUnavailableError(`Cloud KMS key version ${name} is ${String(v.state)}; retrying`);
    default:
      return new KeyUnusableError(`Cloud KMS key version ${name} is in state ${String(v.state ?? 'unknown')}`);
  }
}

/**
 * What `kleidi keys` shows next to a version: `retired` for a disabled version that is not
 * primary (what `kleidi retire` leaves), else its state when not ENABLED and its protection level.
 */
export function versionNote(v: ICryptoKeyVersion, current: boolean, primary: boolean): string | undefined {
  if (v.state === 'DISABLED' && !primary) return 'retired';
  const notes: string[] = [];
  if (v.state !== 'ENABLED') notes.push(String(v.state ?? 'unknown state'));
  else if (!current) notes.push('decrypt-only');
  if (v.protectionLevel) notes.push(String(v.protectionLevel));
  return notes.length > 0 ? notes.join(', ') : undefined;
}

type Timestamp = { seconds?: number | string | { toString(): string } | null; nanos?: number | null };

function isoTime(t: Timestamp | null | undefined): string | undefined {
  if (!t || t.seconds === undefined || t.seconds === null) return undefined;
  const ms = Number(String(t.seconds)) * 1_000 + Math.floor((t.nanos ?? 0) / 1_000_000);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}
