import pkcs11js from 'pkcs11js';
import type { ObjectHandle } from './pkcs11.gcm.js';
import type { RawSession } from './pkcs11.keys.js';

/**
 * Lifecycle marks on the token (ADR 0021). kleidi's KEK objects are locked at
 * birth (CKA_MODIFIABLE, CKA_DESTROYABLE false: pkcs11.keys.ts LOCK_LEVELS),
 * so no attribute of a key can record "staged" or "retired" afterwards.
 * Each mark is therefore an object of its own next to the keys: a CKO_DATA
 * object (Base v2.40 §4.5) with the keys' label, CKA_APPLICATION naming the
 * mark and CKA_VALUE naming what it marks. Token objects, so a token copy
 * carries them to another node; private, so only a logged-in user sees them.
 * A kleidi from before two-phase rotation looks only for secret keys and
 * never sees them.
 * - `staged`: CKA_VALUE `v<N>`. The key of version N decrypts but is not
 *   current. Created before the key, so a crash in between leaves a mark
 *   without a key (ignored) rather than a key that is current too early.
 *   Promoting destroys the mark.
 * - `retired`: CKA_VALUE the key_id. kleidi refuses that key for wrap and
 *   unwrap. Used where the token will not destroy the key itself.
 */
export type MarkKind = 'staged' | 'retired';

const APPLICATION: Readonly<Record<MarkKind, string>> = {
  staged: 'kleidi: staged key version',
  retired: 'kleidi: retired key',
};

export interface Mark {
  readonly kind: MarkKind;
  /** `v<N>` for staged, the key_id for retired. */
  readonly value: string;
  readonly handle: ObjectHandle;
}

/** What the marks say, as the catalog applies them. */
export interface Marks {
  readonly staged: ReadonlySet<number>;
  readonly retired: ReadonlySet<string>;
  readonly all: readonly Mark[];
}

export const NO_MARKS: Marks = { staged: new Set(), retired: new Set(), all: [] };

/** Every mark carrying `label` (C_FindObjects over CKO_DATA objects). */
export function findMarks(session: RawSession, label: string): Marks {
  const C = pkcs11js;
  const { lib, handle } = session;
  lib.C_FindObjectsInit(handle, [
    { type: C.CKA_CLASS, value: C.CKO_DATA },
    { type: C.CKA_LABEL, value: label },
  ]);
  let handles: ObjectHandle[];
  try {
    handles = lib.C_FindObjects(handle, 1024);
  } finally {
    lib.C_FindObjectsFinal(handle);
  }
  const all: Mark[] = [];
  for (const h of handles) {
    const [app, value] = lib.C_GetAttributeValue(handle, h, [{ type: C.CKA_APPLICATION }, { type: C.CKA_VALUE }]);
    const application = app?.value?.toString('utf8');
    const kind = (Object.keys(APPLICATION) as MarkKind[]).find((k) => APPLICATION[k] === application);
    if (kind && value?.value) all.push({ kind, value: value.value.toString('utf8'), handle: h });
  }
  const staged = new Set<number>();
  const retired = new Set<string>();
  for (const m of all) {
    const version = /^v([1-9][0-9]{0,8})$/.exec(m.value)?.[1];
    if (m.kind === 'staged' && version !== undefined) staged.add(Number(version));
    if (m.kind === 'retired') retired.add(m.value);
  }
  return { staged, retired, all };
}

/** Creates a mark; needs the R/W user session. */
export function createMark(session: RawSession, label: string, kind: MarkKind, value: string): void {
  const C = pkcs11js;
  session.lib.C_CreateObject(session.handle, [
    { type: C.CKA_CLASS, value: C.CKO_DATA },
    { type: C.CKA_TOKEN, value: true },
    { type: C.CKA_PRIVATE, value: true },
    { type: C.CKA_LABEL, value: label },
    { type: C.CKA_APPLICATION, value: APPLICATION[kind] },
    { type: C.CKA_VALUE, value: Buffer.from(value, 'utf8') },
  ]);
}

export function destroyMark(session: RawSession, mark: Mark): void {
  session.lib.C_DestroyObject(session.handle, mark.handle);
}

export const stagedValue = (version: number): string => `v${version}`;
