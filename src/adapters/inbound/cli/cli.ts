import { Command, Option } from 'commander';
import { type RotateFlags, runAdmin } from './admin-commands.js';
import type { CliApp, CliFlags } from './cli-app.js';
import { runDecrypt, runEncrypt, runStatus } from './diagnostics.js';
import { registerDoctor } from './doctor/command.js';
import { chooseFace, type Face, keyValues } from './output.js';
import { outputOpt, positiveIntArg, withConfigFlags } from './options.js';
import { registerRetire } from './retire-command.js';
import { registerReencrypt } from './reencrypt-command.js';
import { registerTpm } from './tpm-commands.js';
import { registerUsage } from './usage-command.js';

const STATE_DIR_HELP = 'kleidi state directory (local keyring lives here)';

/** Raised by a command whose configuration was refused; exit code 2. */
class ConfigRefused extends Error {}

/** "a (default), b, c or d": the registered backends, so the help cannot drift from the registry. */
function backendChoices(names: readonly string[], dflt: string): string {
  const shown = names.map((n) => (n === dflt ? `${n} (default)` : n));
  return shown.length > 1 ? `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}` : (shown[0] ?? '');
}

/** The face of this command's answer on stdout. */
const face = (output: unknown): Face =>
  chooseFace(typeof output === 'string' ? output : undefined, process.stdout, process.env);

/** Builds the `kleidi` command line; `exit` receives the process exit code. */
export function buildCli<C>(app: CliApp<C>, exit: (code: number) => void): Command {
  const program = new Command('kleidi')
    .description('Kubernetes KMSv2 plugin: wraps kube-apiserver data keys with a key-encryption key')
    .showHelpAfterError()
    .exitOverride();
  const backendHelp = backendChoices(app.backendNames, app.defaultBackend);
  const config = (flags: CliFlags): C => {
    const { output: _output, ...settings } = flags; // how to print, not a setting
    const r = app.configure(settings);
    if (!r.ok) throw new ConfigRefused(r.message);
    return r.config;
  };

  withConfigFlags(
    program.command('serve', { isDefault: true }).description('serve KMSv2 on a Unix socket (the default command)'),
    { backend: backendHelp, stateDir: STATE_DIR_HELP },
  )
    .option('--socket <endpoint>', 'unix:///path.sock, unix:///@abstract or a path')
    .option('--socket-mode <mode>', 'socket file mode (default 0600)')
    .option('--socket-group <group>', 'group name or gid for the socket')
    .option('--refresh-interval <duration>', 'key state and health refresh (e.g. 1s; default 10s)')
    .option('--shutdown-grace <duration>', 'time in-flight calls get on SIGTERM (default 10s)')
    .option('--http-address <host:port>', 'health and metrics listener; "" turns it off')
    .action(async (flags: CliFlags) => exit(await app.serve(config(flags))));

  for (const [name, what] of [
    ['init', 'create the first key-encryption key (idempotent, never overwrites)'],
    ['keys', 'list key versions and key ids (never key material)'],
  ] as const) {
    withConfigFlags(program.command(name).description(what), { backend: backendHelp, stateDir: STATE_DIR_HELP })
      .addOption(outputOpt())
      .action(async (flags: CliFlags) => exit(await runAdmin(app, name, config(flags), face(flags.output))));
  }
  withConfigFlags(
    program
      .command('rotate')
      .description('add a new current key-encryption key; older ones stay for decryption')
      .addHelpText(
        'after',
        '\nWith several nodes whose keys are copies (local, pkcs11, tpm): --stage on one node, give every node\n' +
          'the new version, then --promote VERSION on each (docs/operations.md, two-phase rotation).\n',
      ),
    { backend: backendHelp, stateDir: STATE_DIR_HELP },
  )
    .addOption(new Option('--stage', 'add a version that decrypts but is not current yet (two-phase rotation)'))
    .addOption(
      new Option('--promote <version>', 'make the staged VERSION current, once every node has it')
        .argParser(positiveIntArg('a version number (1, 2, …)'))
        .conflicts('stage'),
    )
    .addOption(outputOpt())
    .action(async (flags: CliFlags & RotateFlags) => {
      const { stage, promote, ...settings } = flags;
      const rotate = { ...(stage ? { stage } : {}), ...(promote !== undefined ? { promote } : {}) };
      exit(await runAdmin(app, 'rotate', config(settings), face(flags.output), rotate));
    });

  const socketOpt = () =>
    new Option('--socket <endpoint>', 'the plugin socket').env('KLEIDI_SOCKET').makeOptionMandatory();
  const timeoutOpt = () => new Option('--timeout <duration>', 'call deadline').default('3s');
  program
    .command('status')
    .description('call Status; exit 0 only when healthz is "ok" (usable as an exec probe)')
    .addOption(socketOpt())
    .addOption(timeoutOpt())
    .addOption(outputOpt())
    .action(async (o: { socket: string; timeout: string; output: string }) =>
      exit(await runStatus(o.socket, o.timeout, face(o.output))),
    );
  program
    .command('encrypt')
    .description('diagnostics: encrypt stdin, print the response as JSON')
    .addOption(socketOpt())
    .addOption(timeoutOpt())
    .action(async (o: { socket: string; timeout: string }) => exit(await runEncrypt(o.socket, o.timeout)));
  program
    .command('decrypt')
    .description('diagnostics: decrypt the JSON `kleidi encrypt` printed (stdin), write the plaintext to stdout')
    .addOption(socketOpt())
    .addOption(timeoutOpt())
    .action(async (o: { socket: string; timeout: string }) => exit(await runDecrypt(o.socket, o.timeout)));
  registerDoctor(
    withConfigFlags(program.command('doctor'), { backend: backendHelp, stateDir: STATE_DIR_HELP }),
    app,
    config,
    exit,
  );
  registerTpm(program, app, config, exit);
  registerUsage(program, app, config, backendHelp, exit);
  registerRetire(program, app, config, backendHelp, exit);
  registerReencrypt(program, app, config, backendHelp, exit);
  program
    .command('version')
    .description('print version information')
    .addOption(outputOpt())
    .action((o: { output: string }) => {
      process.stdout.write(formatVersion(face(o.output), app.version()));
      exit(0);
    });
  return program;
}

/** The version facts as one JSON line, or as a table. */
export function formatVersion(f: Face, v: Readonly<Record<string, string>>): string {
  return f.format === 'json' ? `${JSON.stringify(v)}\n` : keyValues(f, Object.entries(v));
}

/** Runs the CLI; returns once a command has finished (serve: after shutdown). */
export async function runCli<C>(argv: string[], app: CliApp<C>): Promise<number> {
  let code = 0;
  const program = buildCli(app, (c) => (code = c));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof ConfigRefused) {
      process.stderr.write(`kleidi: ${err.message}\n`);
      return 2;
    }
    if (isCommanderExit(err)) return err.exitCode;
    process.stderr.write(`kleidi: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

function isCommanderExit(err: unknown): err is { exitCode: number } {
  return (
    typeof err === 'object' && err !== null && 'exitCode' in err && typeof err.exitCode === 'number' && 'code' in err
  );
}
