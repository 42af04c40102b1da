import { ENVELOPE_FORMAT } from '../../../domain/model/envelope.js';
import { composeKeyId, type KeyId } from '../../../domain/model/key-id.js';
import type { KeyVersion } from '../../../domain/model/key-version.js';

/**
 * One KMS key as its key ARN names it:
 * `arn:<partition>:kms:<region>:<account>:key/<key id>`
 * (https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id-key-ARN).
 */
export interface AwsKeyRef {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  /** The key ID: a UUID, or `mrk-<hex>` for a multi-Region key. */
  readonly keyId: string;
}

/** What the key_id is derived from: KMS state only, so every node derives the same id. */
export interface AwsKeyState {
  readonly arn: string;
  /** Multi-Region keys are one key in several Regions; their key_id leaves the Region out. */
  readonly multiRegion: boolean;
  readonly createdAt: Date;
  /** DescribeKey's CurrentKeyMaterialId, when KMS reports one. */
  readonly materialId?: string;
}

const KEY_ARN = /^arn:([a-z0-9-]+):kms:([a-z0-9-]+):(\d{12}):key\/((?:mrk-)?[A-Za-z0-9-]{1,64})$/;
/** Stands for the Region in a multi-Region key's key_id: the same key in any Region (all share key material). */
const ANY_REGION = 'any-region';
/** KeyMaterialId is a fixed-length hex string (API_RotationsListEntry); anything else is not used in a key_id. */
const MATERIAL_ID = /^[A-Za-z0-9]{1,128}$/;

export function parseKeyArn(arn: string): AwsKeyRef | undefined {
  const m = KEY_ARN.exec(arn);
  if (!m?.[1] || !m[2] || !m[3] || !m[4]) return undefined;
  return { partition: m[1], region: m[2], account: m[3], keyId: m[4] };
}

function keyArn(ref: AwsKeyRef): string {
  return `arn:${ref.partition}:kms:${ref.region}:${ref.account}:key/${ref.keyId}`;
}

/**
 * key_id of one KMS key and its current key material
 * (docs/adr/0009-aws-kms-key-id.md):
 *   aws:<partition>:<region | any-region>:<account>:<key id>[:<key material id>]
 * Moving the alias to another key changes the key id part; an automatic or
 * on-demand rotation of key material changes the material part. Both come
 * from KMS, so all control-plane nodes agree, and neither is ever reused.
 */
export function awsKeyVersion(state: AwsKeyState): KeyVersion {
  const ref = parseKeyArn(state.arn);
  if (!ref) throw new Error(`not a KMS key ARN: ${state.arn}`);
  const material = state.materialId !== undefined && MATERIAL_ID.test(state.materialId) ? [state.materialId] : [];
  const region = state.multiRegion ? ANY_REGION : ref.region;
  return {
    keyId: composeKeyId('aws', ref.partition, region, ref.account, ref.keyId, ...material),
    // Orders keys by creation, so a key the alias moves to is a higher version. Material
    // rotations of one key share it: KMS reports no rotation date through DescribeKey.
    version: Math.floor(state.createdAt.getTime() / 1_000),
    createdAt: state.createdAt.toISOString(),
  };
}

/** A key_id this backend issued, taken apart; undefined for anything else. */
export interface ParsedAwsKeyId {
  readonly partition: string;
  /** undefined for a multi-Region key: it is used in the Region kleidi talks to. */
  readonly region: string | undefined;
  readonly account: string;
  readonly keyId: string;
  readonly materialId: string | undefined;
}

export function parseAwsKeyId(keyId: KeyId): ParsedAwsKeyId | undefined {
  const parts = keyId.split(':');
  if (parts[0] !== 'aws' || (parts.length !== 5 && parts.length !== 6)) return undefined;
  const [, partition, region, account, key, material] = parts;
  if (!partition || !region || !account || !key) return undefined;
  const multiRegion = region === ANY_REGION;
  if (multiRegion !== key.startsWith('mrk-')) return undefined;
  const ref = { partition, region: multiRegion ? 'x' : region, account, keyId: key };
  if (!parseKeyArn(keyArn(ref))) return undefined;
  if (material !== undefined && !MATERIAL_ID.test(material)) return undefined;
  return { partition, region: multiRegion ? undefined : region, account, keyId: key, materialId: material };
}

/** The key ARN Decrypt must name for a key_id, given the Region kleidi's client talks to. */
export function arnForKeyId(id: ParsedAwsKeyId, clientRegion: string): string {
  return keyArn({ partition: id.partition, region: id.region ?? clientRegion, account: id.account, keyId: id.keyId });
}

/** Encryption context keys; plain names so IAM conditions can use them (kms:EncryptionContext:<key>). */
const CONTEXT_FORMAT = 'kleidi-format';
const CONTEXT_KEY_ID = 'kleidi-key-id';

/**
 * The envelope header as KMS encryption context, which KMS binds to the
 * ciphertext as additional authenticated data: a ciphertext presented under
 * another key_id or envelope format fails to decrypt
 * (https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html).
 * The scheme byte of the header is always "opaque" for this backend.
 */
export function encryptionContext(keyId: KeyId): Record<string, string> {
  return { [CONTEXT_FORMAT]: String(ENVELOPE_FORMAT), [CONTEXT_KEY_ID]: keyId };
}
