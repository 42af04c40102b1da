import type { KeyMetadata } from '@aws-sdk/client-kms';
import { BackendMisconfiguredError, BackendUnavailableError, KeyUnusableError } from '../../../domain/model/errors.js';
import type { KeyVersion } from '../../../domain/model/key-version.js';
import { type AwsKeyState, awsKeyVersion } from './aws-kms.key-id.js';

/**
 * How kleidi is told which key to use: an alias (`alias/kleidi` or its alias
 * ARN), which `kleidi rotate` can move, or one key (key ID or key ARN).
 */
export type KeyReference =
  | { readonly kind: 'alias'; readonly name: string; readonly input: string }
  | { readonly kind: 'key'; readonly input: string };

/** 190 characters leave room for the history aliases below inside KMS's 256-character limit. */
const ALIAS_NAME = /^alias\/[A-Za-z0-9/_-]{1,190}$/;
const ALIAS_ARN = /^arn:[a-z0-9-]+:kms:[a-z0-9-]+:\d{12}:(alias\/[A-Za-z0-9/_-]{1,190})$/;
const KEY_ARN = /^arn:[a-z0-9-]+:kms:[a-z0-9-]+:\d{12}:key\/(?:mrk-)?[A-Za-z0-9-]{1,64}$/;
const KEY_ID = /^(?:mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/**
 * Parses the `aws.key` setting; undefined when it is none of the four forms
 * KMS accepts (https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id).
 * Names under `alias/aws/` belong to AWS managed keys, which cannot be
 * rotated by moving the alias and are refused.
 */
export function parseKeyReference(input: string): KeyReference | undefined {
  const alias = ALIAS_NAME.test(input) ? input : ALIAS_ARN.exec(input)?.[1];
  if (alias !== undefined) return alias.startsWith('alias/aws/') ? undefined : { kind: 'alias', name: alias, input };
  if (KEY_ARN.test(input) || KEY_ID.test(input)) return { kind: 'key', input };
  return undefined;
}

/** The alias under which kleidi records every key it has used behind `alias` (docs/adr/0009-aws-kms-key-id.md). */
export function historyPrefix(alias: string): string {
  return `${alias}/kleidi-history/`;
}

export function historyAlias(alias: string, keyId: string): string {
  return `${historyPrefix(alias)}${keyId}`;
}

/** The parts of KeyMetadata the key_id is made of. */
function keyState(meta: KeyMetadata, materialId?: string): AwsKeyState {
  if (!meta.Arn) throw new BackendUnavailableError('KMS described a key without its ARN');
  return {
    arn: meta.Arn,
    multiRegion: meta.MultiRegion === true,
    createdAt: meta.CreationDate ?? new Date(0),
    ...(materialId ? { materialId } : meta.CurrentKeyMaterialId ? { materialId: meta.CurrentKeyMaterialId } : {}),
  };
}

export function versionOf(meta: KeyMetadata, materialId?: string): KeyVersion {
  return awsKeyVersion(keyState(meta, materialId));
}

/**
 * Throws why kleidi cannot wrap with this key, naming the key and what an
 * operator can do; returns when it can. A wrong key type is a
 * misconfiguration (refused at startup); a disabled or deleted key is a key
 * state (health reports it and writes stop until it is fixed).
 */
export function assertUsable(meta: KeyMetadata, ref: string): void {
  const arn = meta.Arn ?? ref;
  const named = arn === ref ? arn : `${arn} (${ref})`;
  if (meta.KeySpec !== 'SYMMETRIC_DEFAULT' || meta.KeyUsage !== 'ENCRYPT_DECRYPT') {
    throw new BackendMisconfiguredError(
      `KMS key ${named} is a ${meta.KeySpec ?? 'unknown'} key for ${meta.KeyUsage ?? 'unknown use'}; kleidi needs ` +
        'a symmetric encryption key (KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT)',
    );
  }
  const problem = stateProblem(meta);
  if (problem) throw problem;
}

/** The error a key's state stands for, or undefined when it is Enabled. */
export function stateProblem(meta: KeyMetadata): KeyUnusableError | BackendUnavailableError | undefined {
  const arn = meta.Arn ?? meta.KeyId ?? 'the KMS key';
  switch (meta.KeyState) {
    case 'Enabled':
      return undefined;
    case 'Disabled':
      return new KeyUnusableError(
        `KMS key ${arn} is disabled: enable it (aws kms enable-key) or point the alias at an enabled key`,
      );
    case 'PendingDeletion':
    case 'PendingReplicaDeletion': {
      const when = meta.DeletionDate ? ` on ${meta.DeletionDate.toISOString()}` : '';
      return new KeyUnusableError(
        `KMS key ${arn} is scheduled for deletion${when}: cancel it (aws kms cancel-key-deletion), ` +
          'or every secret written under it is lost',
      );
    }
    case 'PendingImport':
      return new KeyUnusableError(`KMS key ${arn} has no key material yet (PendingImport): import it`);
    case 'Unavailable':
      return new KeyUnusableError(`KMS key ${arn} is unavailable: reconnect its custom key store`);
    case 'Creating':
    case 'Updating':
      return new BackendUnavailableError(`KMS key ${arn} is ${meta.KeyState.toLowerCase()}; retrying`);
    default:
      return new KeyUnusableError(`KMS key ${arn} is in state ${meta.KeyState ?? 'unknown'}`);
  }
}
