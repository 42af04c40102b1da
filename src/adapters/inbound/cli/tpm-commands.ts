import { type Command, Option } from 'commander';
import type { CliApp, CliFlags, TpmProvisioning, TpmVersionFact } from './cli-app.js';
import { outputOpt, positiveIntArg, withConfigFlags } from './options.js';
import { chooseFace, type Face, keyValues, paint, table } from './output.js';

const positiveInt = positiveIntArg('a version number (1, 2, …)');

/** The configuration flags of `kleidi tpm …`: the backend is always tpm, so there is no --backend. */
const configFlags = (cmd: Command): Command =>
  withConfigFlags(cmd, { stateDir: 'kleidi state directory (default files live here)' });

/**
 * `kleidi tpm enroll | add-version | provision | import`: the TPM backend's
 * offline provisioning (docs/backends/tpm.md, docs/adr/0014-tpm-backend.md).
 * The configuration is loaded with backend `tpm` whatever else is set.
 * SECURITY: no flag carries a secret; the ring and the auth value are the
 * `tpm` section's files. Nothing printed is key material.
 */
export function registerTpm<C>(
  program: Command,
  app: CliApp<C>,
  config: (flags: CliFlags) => C,
  exit: (code: number) => void,
): void {
  const tpm = program
    .command('tpm')
    .description("TPM backend: enroll a node, keep the KEK ring, make and import a node's bundle");
  const ops = (flags: CliFlags): { ops: TpmProvisioning; face: Face } => {
    const { output, ...settings } = flags;
    return {
      ops: app.tpm(config({ ...settings, backend: 'tpm' })),
      face: chooseFace(typeof output === 'string' ? output : undefined, process.stdout, process.env),
    };
  };

  configFlags(tpm.command('enroll'))
    .description("on a node: print its enrollment document (the TPM storage key's public area; not secret) as JSON")
    .action(async (flags: CliFlags) => {
      const { document } = await ops(flags).ops.enroll();
      process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
      exit(0);
    });

  configFlags(tpm.command('add-version'))
    .description('on the ring holder: add a new KEK version to the ring file (creates the ring); no TPM needed')
    .addOption(outputOpt())
    .action(async (flags: CliFlags) => {
      const { ops: o, face } = ops(flags);
      const v = await o.addVersion();
      process.stdout.write(formatAdded(face, v));
      exit(0);
    });

  configFlags(tpm.command('provision'))
    .description("on the ring holder: write one enrolled node's import bundle from the ring; no TPM needed")
    .requiredOption('--node-pub <file>', 'the enrollment document `kleidi tpm enroll` printed on that node')
    .requiredOption('--out <file>', 'where to write the bundle (mode 0600)')
    .addOption(
      new Option('--current <version>', 'the version the node encrypts with (default: the newest)').argParser(
        positiveInt,
      ),
    )
    .addOption(outputOpt())
    .action(async (flags: CliFlags) => {
      const { nodePub, out, current, ...rest } = flags;
      const { ops: o, face } = ops(rest);
      const r = await o.provision(String(nodePub), String(out), typeof current === 'number' ? current : undefined);
      process.stdout.write(formatProvisioned(face, String(out), r));
      exit(0);
    });

  configFlags(tpm.command('import'))
    .description('on the node: import its bundle into this TPM and the node key file')
    .requiredOption('--bundle <file>', 'the bundle `kleidi tpm provision` wrote for this node')
    .addOption(outputOpt())
    .action(async (flags: CliFlags) => {
      const { bundle, ...rest } = flags;
      const { ops: o, face } = ops(rest);
      process.stdout.write(formatImported(face, await o.importBundle(String(bundle))));
      exit(0);
    });
}

function formatAdded(face: Face, v: TpmVersionFact & { readonly created: boolean }): string {
  if (face.format === 'json') return json(v);
  const what = v.created ? 'created the KEK ring with its first version' : 'added a KEK version to the ring';
  return `${paint(face, 'green', what)}\n${keyValues(face, [
    ['version', String(v.version)],
    ['keyId', v.keyId],
  ])}`;
}

function formatProvisioned(
  face: Face,
  out: string,
  r: { readonly srkName: string; readonly current: number; readonly versions: readonly TpmVersionFact[] },
): string {
  if (face.format === 'json') return json({ bundle: out, ...r });
  return `${paint(face, 'green', `wrote ${out}`)} for the TPM whose storage key Name is\n${r.srkName}\n${versionTable(face, r.current, r.versions)}`;
}

function formatImported(
  face: Face,
  r: {
    readonly srkName: string;
    readonly current: number;
    readonly versions: readonly (TpmVersionFact & { readonly imported: boolean })[];
  },
): string {
  if (face.format === 'json') return json(r);
  const n = r.versions.filter((v) => v.imported).length;
  return `${paint(face, 'green', `imported ${n} version${n === 1 ? '' : 's'}`)}\n${versionTable(face, r.current, r.versions)}`;
}

function versionTable(
  face: Face,
  current: number,
  versions: readonly (TpmVersionFact & { readonly imported?: boolean })[],
): string {
  const imported = versions.some((v) => v.imported !== undefined);
  const rows = versions.map((v) => [
    v.version === current ? { text: '*', tone: 'green' as const } : '',
    String(v.version),
    v.keyId,
    ...(imported ? [v.imported ? 'imported' : 'held'] : []),
  ]);
  return table(face, rows, ['CURRENT', 'VERSION', 'KEY ID', ...(imported ? ['NOW'] : [])]);
}

function json(obj: unknown): string {
  return `${JSON.stringify(obj, null, 2)}\n`;
}
