import type { KeyVersion, KeyVersionInfo } from '../../../domain/model/key-version.js';
import type { CliApp } from './cli-app.js';
import { type Face, keyValues, paint, table } from './output.js';

export type AdminCommand = 'init' | 'rotate' | 'keys';

/** `kleidi rotate --stage | --promote VERSION`: two-phase rotation (docs/operations.md). */
export interface RotateFlags {
  readonly stage?: boolean;
  readonly promote?: number;
}

/** One admin command's time budget. */
const ADMIN_TIMEOUT_MS = 60_000;

/**
 * `kleidi init | rotate | keys` for the configured backend, through the
 * KeyAdmin port. Output is JSON on stdout, or short tables for a terminal
 * (`face`); it never contains key material.
 */
export async function runAdmin<C>(
  app: CliApp<C>,
  cmd: AdminCommand,
  config: C,
  face: Face,
  rotate: RotateFlags = {},
): Promise<number> {
  return app.withKeyAdmin(config, async (admin) => {
    const signal = AbortSignal.timeout(ADMIN_TIMEOUT_MS);
    switch (cmd) {
      case 'init': {
        const r = await admin.init(signal);
        process.stdout.write(formatInit(face, admin.backend, r.created, r.current));
        return 0;
      }
      case 'rotate': {
        if (rotate.stage) {
          process.stdout.write(formatStage(face, admin.backend, await admin.stage(signal)));
          return 0;
        }
        if (rotate.promote !== undefined) {
          process.stdout.write(formatPromote(face, admin.backend, await admin.promote(rotate.promote, signal)));
          return 0;
        }
        const v = await admin.rotate(signal);
        process.stdout.write(formatRotate(face, admin.backend, v));
        return 0;
      }
      case 'keys': {
        const list = await admin.list(signal);
        process.stdout.write(formatKeys(face, admin.backend, list));
        return 0;
      }
    }
  });
}

export function formatInit(face: Face, backend: string, created: boolean, current: KeyVersion): string {
  if (face.format === 'json') return json({ backend, created, current: show(current) });
  const what = created
    ? paint(face, 'green', 'created the first key-encryption key')
    : 'a key-encryption key already exists; nothing changed';
  return `${what}\n${keyValues(face, versionPairs(backend, current))}`;
}

export function formatRotate(face: Face, backend: string, current: KeyVersion): string {
  if (face.format === 'json') return json({ backend, rotated: true, current: show(current) });
  const what = paint(face, 'green', 'rotated: new key-encryption key is current; older ones still decrypt');
  return `${what}\n${keyValues(face, versionPairs(backend, current))}`;
}

export function formatStage(face: Face, backend: string, staged: KeyVersion): string {
  if (face.format === 'json') return json({ backend, staged: show(staged) });
  const what = paint(face, 'green', 'staged: the new key-encryption key decrypts here but is not current yet');
  const next =
    `give every node this version (${HOW_NODES_GET_IT[backend] ?? 'as for a rotation'}), ` +
    `then on each node: kleidi rotate --promote ${staged.version}`;
  return `${what}\n${keyValues(face, versionPairs(backend, staged))}${next}\n`;
}

export function formatPromote(face: Face, backend: string, current: KeyVersion): string {
  if (face.format === 'json') return json({ backend, promoted: true, current: show(current) });
  const what = paint(face, 'green', 'promoted: the staged key-encryption key is current; older ones still decrypt');
  return `${what}\n${keyValues(face, versionPairs(backend, current))}`;
}

/** What an operator copies to the other nodes after `--stage`, per backend that stages. */
const HOW_NODES_GET_IT: Readonly<Record<string, string>> = {
  local: 'copy this keyring file to each node',
  pkcs11: 'copy this token to each node',
  tpm: 'provision each node from the KEK ring',
};

/** One row a key version, the current one marked; the backend above the table. */
export function formatKeys(face: Face, backend: string, keys: readonly KeyVersionInfo[]): string {
  if (face.format === 'json') return json({ backend, keys: keys.map(show) });
  if (keys.length === 0) return `backend ${backend}: no key-encryption key yet (kleidi init creates one)\n`;
  const notes = keys.some((k) => k.note !== undefined);
  const rows = keys.map((k) => [
    k.current ? { text: '*', tone: 'green' as const } : '',
    String(k.version),
    k.keyId,
    k.createdAt ?? '-',
    ...(notes ? [k.note ?? ''] : []),
  ]);
  const header = ['CURRENT', 'VERSION', 'KEY ID', 'CREATED', ...(notes ? ['NOTE'] : [])];
  return `backend ${backend}\n${table(face, rows, header)}`;
}

function versionPairs(backend: string, v: KeyVersion): [string, string | undefined][] {
  return [
    ['backend', backend],
    ['version', String(v.version)],
    ['keyId', v.keyId],
    ['createdAt', v.createdAt],
  ];
}

function show(v: KeyVersion | KeyVersionInfo): Record<string, unknown> {
  return { ...v };
}

function json(obj: unknown): string {
  return `${JSON.stringify(obj, null, 2)}\n`;
}
