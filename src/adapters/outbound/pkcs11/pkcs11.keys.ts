import { KeyType, ObjectClass, type Session } from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import { composeKeyId, type KeyId } from '../../../domain/model/key-id.js';
import { ckrOf } from './pkcs11.errors.js';
import type { ObjectHandle } from './pkcs11.gcm.js';

/** One KEK object on the token, as the catalog knows it. Never holds key material. */
export interface KekEntry {
  readonly version: number;
  readonly keyId: KeyId;
  readonly handle: ObjectHandle;
  /** Key check value (hex), computed by the token: see pkcs11.gcm.ts keyCheckValue. */
  readonly kcv: string;
  /** Attribute findings an operator should see (logged once, shown by `kleidi keys`), e.g. "CKA_EXTRACTABLE true". */
  readonly warnings: readonly string[];
  /** Shown by `kleidi keys` only: facts the operator cannot change on this key, e.g. that it is destroyable. */
  readonly notes?: readonly string[];
  /** Why this key is not used at all; see judgeKey. */
  readonly refusal?: Refusal;
  /** Two-phase rotation and retire, from the marks next to the keys (pkcs11.marks.ts). */
  readonly state?: 'staged' | 'retired';
}

/** A key object with our label, before its check value is known. */
export type FoundKey = Omit<KekEntry, 'keyId' | 'kcv' | 'state'>;

/** Which keys found on the token are used although their value can leave, or once could leave, the token. */
export interface KeyPolicy {
  /** Keys that are not CKA_SENSITIVE or are CKA_EXTRACTABLE now; implies allowPreviouslyExposedKeys. */
  readonly allowExtractableKeysInsecure: boolean;
  /** Keys that are sensitive and unextractable now but not CKA_ALWAYS_SENSITIVE or not CKA_NEVER_EXTRACTABLE. */
  readonly allowPreviouslyExposedKeys: boolean;
}

/** A key kleidi will not use, why, and the setting that would accept it. */
export interface Refusal {
  /** The attribute findings, e.g. "CKA_SENSITIVE false, CKA_EXTRACTABLE true". */
  readonly why: string;
  readonly setting: 'allowExtractableKeysInsecure' | 'allowPreviouslyExposedKeys';
}

const AES_256_BYTES = 32;
// CKA_ID holds "v<N>" in ASCII: readable in `pkcs11-tool --list-objects` and in vendor tools.
const VERSION_ID = /^v([1-9][0-9]{0,8})$/;

function versionId(version: number): Buffer {
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
 * The KEK template: PKCS#11 Base v2.40 §4.10 (secret key objects) and AES key
 * objects in Current Mechanisms v2.40
 * (http://docs.oasis-open.org/pkcs11/pkcs11-base/v2.40/os/pkcs11-base-v2.40-os.html).
 * SECURITY: a token object that never leaves the token in clear (CKA_SENSITIVE,
 * not CKA_EXTRACTABLE) and can do nothing but CKA_ENCRYPT/CKA_DECRYPT, so no
 * wrap, unwrap, sign or derive path exposes it. Raw pkcs11js rather than a
 * graphene template: graphene-pk11 2.3.6 maps neither CKA_COPYABLE nor
 * CKA_DESTROYABLE (its ITemplate types `copyable` but the name is not registered).
 */
function kekTemplate(label: string, version: number, locks: readonly number[]): pkcs11js.Template {
  const C = pkcs11js;
  return [
    { type: C.CKA_CLASS, value: C.CKO_SECRET_KEY },
    { type: C.CKA_KEY_TYPE, value: C.CKK_AES },
    { type: C.CKA_VALUE_LEN, value: AES_256_BYTES },
    { type: C.CKA_TOKEN, value: true },
    { type: C.CKA_PRIVATE, value: true },
    { type: C.CKA_SENSITIVE, value: true },
    { type: C.CKA_EXTRACTABLE, value: false },
    { type: C.CKA_ENCRYPT, value: true },
    { type: C.CKA_DECRYPT, value: true },
    { type: C.CKA_WRAP, value: false },
    { type: C.CKA_UNWRAP, value: false },
    { type: C.CKA_SIGN, value: false },
    { type: C.CKA_VERIFY, value: false },
    { type: C.CKA_DERIVE, value: false },
    { type: C.CKA_LABEL, value: label },
    { type: C.CKA_ID, value: versionId(version) },
    ...locks.map((type) => ({ type, value: false })),
  ];
}

/**
 * SECURITY: storage-object attributes (Base v2.40 §4.4, storage objects) that
 * lock the key once it exists. CKA_MODIFIABLE false makes C_SetAttributeValue
 * fail, so nobody holding the PIN can relabel a version or turn on CKA_DERIVE
 * or CKA_WRAP later (usage attributes are otherwise changeable, §4.10, and
 * SoftHSM 2.6.1 lets the PIN holder do both, measured);
 * CKA_COPYABLE false stops C_CopyObject from making a twin with looser
 * attributes; CKA_DESTROYABLE false stops C_DestroyObject, so the key that
 * decrypts every stored object cannot be deleted through the PIN. The token
 * answers CKR_ACTION_PROHIBITED to each (§5.7; measured on SoftHSM 2.6.1).
 * Tokens older than v2.40 may not know CKA_COPYABLE and CKA_DESTROYABLE (v2.40
 * added CKA_DESTROYABLE), so each level is tried in turn, most locked first.
 */
const LOCK_LEVELS: readonly (readonly number[])[] = [
  [pkcs11js.CKA_MODIFIABLE, pkcs11js.CKA_COPYABLE, pkcs11js.CKA_DESTROYABLE],
  [pkcs11js.CKA_MODIFIABLE],
  [],
];
const LOCK_NAMES = new Map([
  [pkcs11js.CKA_MODIFIABLE, 'CKA_MODIFIABLE'],
  [pkcs11js.CKA_COPYABLE, 'CKA_COPYABLE'],
  [pkcs11js.CKA_DESTROYABLE, 'CKA_DESTROYABLE'],
]);
/** What a token answers to an attribute it does not know or will not take in a template (Base v2.40 §5.1). */
const TEMPLATE_REFUSED = new Set([
  pkcs11js.CKR_ATTRIBUTE_TYPE_INVALID,
  pkcs11js.CKR_ATTRIBUTE_VALUE_INVALID,
  pkcs11js.CKR_TEMPLATE_INCONSISTENT,
]);

/** The bit of a graphene Session the raw calls need. */
export type RawSession = Pick<Session, 'lib' | 'handle'>;

/**
 * Generates a new KEK version on the token (CKM_AES_KEY_GEN); needs a R/W user
 * session. Returns the lock attributes the token would not take, if any: the
 * key is then generated without them, and the caller says so.
 */
export function generateKek(session: RawSession, label: string, version: number): string[] {
  const all = LOCK_LEVELS[0] ?? [];
  for (const [i, locks] of LOCK_LEVELS.entries()) {
    try {
      session.lib.C_GenerateKey(
        session.handle,
        { mechanism: pkcs11js.CKM_AES_KEY_GEN },
        kekTemplate(label, version, locks),
      );
      return all.filter((a) => !locks.includes(a)).map((a) => LOCK_NAMES.get(a) ?? String(a));
    } catch (err) {
      // Nothing was created: a refused template fails C_GenerateKey as a whole.
      const code = ckrOf(err);
      if (i === LOCK_LEVELS.length - 1 || code === undefined || !TEMPLATE_REFUSED.has(code)) throw err;
    }
  }
  throw new Error('unreachable: the last lock level rethrows');
}

/**
 * Lists the AES secret keys carrying our label (C_FindObjects; synchronous in
 * pkcs11js, cheap on every token we know) and judges each against `policy`.
 * Objects whose CKA_ID is not a version or whose length is not AES-256 are
 * skipped and reported.
 */
export function findKeks(
  session: Session,
  label: string,
  policy: KeyPolicy,
  onSkip: (why: string) => void,
): FoundKey[] {
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
    found.push({ handle: object.handle, version, ...judgeKey(readFlags(session, object.handle), policy) });
  }
  return found;
}

/** The boolean attributes kleidi judges a key by. */
const FLAGS = {
  sensitive: pkcs11js.CKA_SENSITIVE,
  extractable: pkcs11js.CKA_EXTRACTABLE,
  alwaysSensitive: pkcs11js.CKA_ALWAYS_SENSITIVE,
  neverExtractable: pkcs11js.CKA_NEVER_EXTRACTABLE,
  wrap: pkcs11js.CKA_WRAP,
  unwrap: pkcs11js.CKA_UNWRAP,
  derive: pkcs11js.CKA_DERIVE,
  sign: pkcs11js.CKA_SIGN,
  modifiable: pkcs11js.CKA_MODIFIABLE,
  copyable: pkcs11js.CKA_COPYABLE,
  destroyable: pkcs11js.CKA_DESTROYABLE,
} as const;

/** What the token says about a key; undefined where it does not say (an attribute it does not know). */
export type KeyFlags = { readonly [K in keyof typeof FLAGS]?: boolean };

/** Codes for "this attribute cannot be read"; anything else (a lost session) fails the scan. */
const UNREADABLE = new Set([pkcs11js.CKR_ATTRIBUTE_TYPE_INVALID, pkcs11js.CKR_ATTRIBUTE_SENSITIVE]);

/**
 * Reads FLAGS in one C_GetAttributeValue. That call fails as a whole
 * (CKR_ATTRIBUTE_TYPE_INVALID) if the token lacks one of them (Base v2.40
 * §5.7), and pkcs11js then returns no values, so the fallback asks one by one.
 */
function readFlags(session: RawSession, handle: ObjectHandle): KeyFlags {
  const names = Object.keys(FLAGS) as (keyof typeof FLAGS)[];
  const read = (ns: readonly (keyof typeof FLAGS)[]) =>
    session.lib.C_GetAttributeValue(
      session.handle,
      handle,
      ns.map((n) => ({ type: FLAGS[n] })),
    );
  const flags: Partial<Record<keyof typeof FLAGS, boolean>> = {};
  try {
    for (const [i, r] of read(names).entries()) flags[names[i] as keyof typeof FLAGS] = bool(r.value);
    return flags;
  } catch (err) {
    if (!UNREADABLE.has(ckrOf(err) ?? -1)) throw err;
  }
  for (const n of names) {
    try {
      flags[n] = bool(read([n])[0]?.value);
    } catch (err) {
      if (!UNREADABLE.has(ckrOf(err) ?? -1)) throw err;
    }
  }
  return flags;
}

function bool(value: Buffer | undefined): boolean | undefined {
  return value === undefined || value.length === 0 ? undefined : value[0] !== 0;
}

/**
 * SECURITY: whether kleidi uses a key found on the token. Base v2.40 §4.10:
 * CKA_SENSITIVE false lets C_GetAttributeValue reveal CKA_VALUE (with
 * CKA_EXTRACTABLE true), CKA_EXTRACTABLE true lets C_WrapKey export it under
 * any wrapping key the PIN holder has, and CKA_ALWAYS_SENSITIVE /
 * CKA_NEVER_EXTRACTABLE false say it once could be read or exported (a key
 * imported with C_CreateObject or C_UnwrapKey, or made sensitive or
 * unextractable after creation), so copies may exist outside the token. Such
 * keys are refused unless a setting that names the risk accepts them; an
 * attribute the token does not report counts against the key. Accepted keys
 * keep their findings as warnings.
 */
export function judgeKey(f: KeyFlags, policy: KeyPolicy): Pick<KekEntry, 'warnings' | 'notes' | 'refusal'> {
  const now = [finding('CKA_SENSITIVE', f.sensitive, true), finding('CKA_EXTRACTABLE', f.extractable, false)];
  const before = [
    finding('CKA_ALWAYS_SENSITIVE', f.alwaysSensitive, true),
    finding('CKA_NEVER_EXTRACTABLE', f.neverExtractable, true),
  ];
  const exposedNow = now.filter((x) => x !== undefined);
  const exposedBefore = before.filter((x) => x !== undefined);
  const usages = (['wrap', 'unwrap', 'derive', 'sign'] as const).filter((u) => f[u] === true);
  const unlocked = (['modifiable', 'copyable', 'destroyable'] as const).filter((u) => f[u] === true);
  const notes = unlocked.length > 0 ? [`not locked (${unlocked.join(', ')})`] : [];
  const usage = usages.length > 0 ? [`also permits ${usages.join(', ')}`] : [];
  if (exposedNow.length > 0 && !policy.allowExtractableKeysInsecure) {
    return { warnings: usage, notes, refusal: { why: exposedNow.join(', '), setting: 'allowExtractableKeysInsecure' } };
  }
  if (exposedBefore.length > 0 && !policy.allowExtractableKeysInsecure && !policy.allowPreviouslyExposedKeys) {
    return {
      warnings: usage,
      notes,
      refusal: { why: exposedBefore.join(', '), setting: 'allowPreviouslyExposedKeys' },
    };
  }
  return { warnings: [...exposedNow, ...exposedBefore, ...usage], notes };
}

function finding(name: string, value: boolean | undefined, safe: boolean): string | undefined {
  if (value === safe) return undefined;
  return value === undefined ? `${name} unreadable` : `${name} ${String(value)}`;
}

/**
 * The operator's message for a refused key: what, why, and both ways out.
 * Kept under the 160 characters a status reason is cut at, for the default label.
 */
export function refusedMessage(label: string, version: number, r: Refusal): string {
  return `key '${label}' v${version} refused (${r.why}); 'kleidi rotate' or accept the risk: pkcs11.${r.setting}`;
}
