import { type Command, InvalidArgumentError, Option } from 'commander';
import { OUTPUT_CHOICES } from './output.js';

/**
 * Flags shared by every command that loads the configuration; `backendHelp`
 * adds `--backend` (the `tpm` commands always use backend tpm and omit it).
 * SECURITY: no flag carries a secret.
 */
export function withConfigFlags(cmd: Command, help: { backend?: string; stateDir: string }): Command {
  cmd.option('--config <file>', 'YAML config file (env KLEIDI_CONFIG)');
  if (help.backend !== undefined) cmd.option('--backend <name>', help.backend);
  return cmd
    .option('--state-dir <dir>', help.stateDir)
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
    .option('--log-format <format>', 'auto (text on a terminal, else json)|json|text (env KLEIDI_LOG_FORMAT)');
}

/** `--output`: JSON for scripts, tables for a person; by default, tables only when stdout is a terminal. */
export const outputOpt = (): Option =>
  new Option('--output <format>', 'json, or text tables; default: text on a terminal, else json')
    .choices(OUTPUT_CHOICES)
    .default('auto');

/** A commander argument parser for a positive integer (at most nine digits); `what` is the error's wording. */
export function positiveIntArg(what: string): (value: string) => number {
  return (value) => {
    if (!/^[1-9]\d{0,8}$/.test(value)) throw new InvalidArgumentError(what);
    return Number(value);
  };
}
