import { KeyGenMechanism, KeyType, ObjectClass, type ITemplate, type Session } from 'graphene-pk11';
import { composeKeyId, type KeyId } from '../../../domain/model/key-id.js';
import type { ObjectHandle } from './pkcs11.gcm.js';

/** One KEK object on the token, as the catalog knows it. Never holds key material. */
export interface KekEntry {
  readonly version: number;
  readonly keyId: KeyId;
  readonly handle: ObjectHandle;
  /** Key check value (hex), computed by the token: see pkcs11.gcm.ts keyCheckValue. */
  readonly kcv: string;
  /** Attribute findings an operator should see, e.g. "extractable". */
  readonly warnings: readonly string[];
}

/** A key object with our label, before its check value is known. */
export interface FoundKey {
  readonly handle: ObjectHandle;
  readonly version: number;
  readonly warnings: readonly string[];
}

const AES_256_BYTES = 32;
// CKA_ID holds "v<N>" in ASCII: readable in `pkcs11-tool --list-objects` and in vendor tools.
const VERSION_ID = /^v([1-9][0-9]{0,8})$/;

export function versionId(version: number): Buffer {
  return Buffer.from(`v${version}`, 'ascii');
}

export function parseVersionId(id: Buffer | null | undefined): number | undefined {
  const m = id ? VERSION_ID.exec(id.toString('latin1')) : null;
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** `pkcs11:<label>:v<N>:<kcv>` — same key material on two tokens gives the same id (ADR 0004). */
export function kekKeyId(label: string, version: number, kcv: string): KeyId {
  return composeKeyId('pkcs11', label, `v${version}`, kcv);
}

/**
 * The KEK template (base v2.40 §4.10 secret key objects; AES key objects in
 * Current Mechanisms v2.40). SECURITY: a token object that never leaves the
 * token in clear (CKA_SENSITIVE, not CKA_EXTRACTABLE) and can do nothing but
 * CKA_ENCRYPT/CKA_DECRYPT, so no wrap, unwrap, sign or derive path exposes it.
 */
export function kekTemplate(label: string, version: number): ITemplate {
  return {
    class: ObjectClass.SECRET_KEY,
    keyType: KeyType.AES,
    valueLen: AES_256_BYTES,
    token: true,
    private: true,
    sensitive: true,
    extractable: false,
    encrypt: true,
    decrypt: true,
    wrap: false,
    unwrap: false,
    sign: false,
    verify: false,
    derive: false,
    label,
    id: versionId(version),
  };
}

/** Generates a new KEK version on the token (CKM_AES_KEY_GEN); needs a R/W user session. */
export function generateKek(session: Session, label: string, version: number): void {
  session.generateKey(KeyGenMechanism.AES, kekTemplate(label, version));
}

/**
 * Lists the AES secret keys carrying our label (C_FindObjects; synchronous in
 * pkcs11js, cheap on every token we know). Objects whose CKA_ID is not a
 * version or whose length is not AES-256 are skipped and reported.
 */
export function findKeks(session: Session, label: string, onSkip: (why: string) => void): FoundKey[] {
  const found: FoundKey[] = [];
  const objects = session.find({ class: ObjectClass.SECRET_KEY, keyType: KeyType.AES, label });
  for (let i = 0; i < objects.length; i++) {
    const object = objects.items(i);
    const a = object.getAttribute({ id: null, valueLen: null });
    const version = parseVersionId(a.id);
    if (version === undefined) {
      onSkip(`an AES key labelled '${label}' has CKA_ID ${a.id?.toString('hex') ?? '(none)'}, not v<N>`);
      continue;
    }
    if (a.valueLen !== AES_256_BYTES) {
      onSkip(`key '${label}' v${version} is ${Number(a.valueLen) * 8}-bit AES, not AES-256`);
      continue;
    }
    const warnings = usageWarnings(() =>
      object.getAttribute({ sensitive: null, extractable: null, wrap: null, unwrap: null, derive: null, sign: null }),
    );
    found.push({ handle: object.handle, version, warnings });
  }
  return found;
}

/**
 * Keys made by other tools (pkcs11-tool, vendor consoles) are used, but shown
 * for what they are. Read in a call of their own: C_GetAttributeValue fails as
 * a whole (CKR_ATTRIBUTE_TYPE_INVALID) if a token lacks one of them.
 */
function usageWarnings(read: () => ITemplate): string[] {
  let a: ITemplate;
  try {
    a = read();
  } catch {
    return ['usage attributes unreadable'];
  }
  const extra = (['wrap', 'unwrap', 'derive', 'sign'] as const).filter((u) => a[u] === true);
  return [
    ...(a.sensitive === false ? ['not sensitive'] : []),
    ...(a.extractable === true ? ['extractable'] : []),
    ...(extra.length > 0 ? [`also permits ${extra.join(', ')}`] : []),
  ];
}
