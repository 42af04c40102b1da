import { Command, Option } from 'commander';
import { ConfigError, loadConfig, type Raw } from './config/load.js';
import { runAdmin } from './cli-admin.js';
import { runDecrypt, runEncrypt, runStatus } from './cli-diagnostics.js';
import { runServe } from './cli-serve.js';
import { versionInfo } from './version.js';

/** Flags shared by every command that loads the configuration. SECURITY: no flag carries a secret. */
function withConfigFlags(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'YAML config file (env KLEIDI_CONFIG)')
    .option('--backend <name>', 'local (default), in-memory, pkcs11 or vault')
    .option('--state-dir <dir>', 'kleidi state directory (local keyring lives here)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent');
}

/** Builds the `kleidi` command line; `exit` receives the process exit code. */
export function buildCli(env: NodeJS.ProcessEnv, exit: (code: number) => void): Command {
  const program = new Command('kleidi')
    .description('Kubernetes KMSv2 plugin: wraps kube-apiserver data keys with a key-encryption key')
    .showHelpAfterError()
    .exitOverride();
  const config = (opts: Raw) => loadConfig(opts, env);

  withConfigFlags(
    program.command('serve', { isDefault: true }).description('serve KMSv2 on a Unix socket (the default command)'),
  )
    .option('--socket <endpoint>', 'unix:///path.sock, unix:///@abstract or a path')
    .option('--socket-mode <mode>', 'socket file mode (default 0600)')
    .option('--socket-group <group>', 'group name or gid for the socket')
    .option('--refresh-interval <duration>', 'key state and health refresh (e.g. 1s; default 10s)')
    .option('--shutdown-grace <duration>', 'time in-flight calls get on SIGTERM (default 10s)')
    .option('--http-address <host:port>', 'health and metrics listener; "" turns it off')
    .action(async (opts: Raw) => exit(await runServe(config(opts), env)));

  for (const [name, what] of [
    ['init', 'create the first key-encryption key (idempotent, never overwrites)'],
    ['rotate', 'add a new current key-encryption key; older ones stay for decryption'],
    ['keys', 'list key versions and key ids (never key material)'],
  ] as const) {
    withConfigFlags(program.command(name).description(what)).action(async (opts: Raw) =>
      exit(await runAdmin(name, config(opts), env)),
    );
  }

  const socketOpt = () =>
    new Option('--socket <endpoint>', 'the plugin socket').env('KLEIDI_SOCKET').makeOptionMandatory();
  const timeoutOpt = () => new Option('--timeout <duration>', 'call deadline').default('3s');
  program
    .command('status')
    .description('call Status; exit 0 only when healthz is "ok" (usable as an exec probe)')
    .addOption(socketOpt())
    .addOption(timeoutOpt())
    .action(async (o: { socket: string; timeout: string }) => exit(await runStatus(o.socket, o.timeout)));
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
  program
    .command('version')
    .description('print version information')
    .action(() => {
      process.stdout.write(`${JSON.stringify(versionInfo())}\n`);
      exit(0);
    });
  return program;
}

/** Runs the CLI; returns once a command has finished (serve: after shutdown). */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let code = 0;
  const program = buildCli(env, (c) => (code = c));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof ConfigError) {
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
