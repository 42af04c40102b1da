import { type Command, Option } from 'commander';
import type { CliApp, CliFlags } from '../cli-app.js';
import { DEFAULT_MANIFESTS } from './apiserver.js';
import { chooseFace, OUTPUT_CHOICES } from '../output.js';
import { runDoctor } from './doctor.js';

/** `kleidi doctor` on `cmd`, which already carries the config flags (--config, --backend, --state-dir). */
export function registerDoctor<C>(
  cmd: Command,
  app: CliApp<C>,
  config: (flags: CliFlags) => C,
  exit: (code: number) => void,
): void {
  cmd
    .description(
      'check this control-plane node: socket, backend, kube-apiserver manifest, EncryptionConfiguration, clock',
    )
    .option('--socket <endpoint>', 'the plugin socket (default: the configured one)')
    .option('--socket-mode <mode>', 'the socket mode kleidi was given (default 0600)')
    .option('--socket-group <group>', 'the socket group kleidi was given')
    .option(
      '--manifest <file>',
      `kube-apiserver static pod manifest or k3s/RKE2 config.yaml (default: first of ${DEFAULT_MANIFESTS.join(', ')})`,
    )
    .option(
      '--encryption-config <file>',
      "the EncryptionConfiguration's host path (default: from --encryption-provider-config)",
    )
    .addOption(
      new Option('--output <format>', 'json, or text lines; default: text on a terminal, else json')
        .choices(OUTPUT_CHOICES)
        .default('auto'),
    )
    .addOption(new Option('--timeout <duration>', 'Status call deadline').default('3s'))
    .action(async (flags: CliFlags) => {
      const { manifest, encryptionConfig, output, timeout, ...settings } = flags;
      exit(
        await runDoctor(app, config(settings), {
          ...(typeof manifest === 'string' ? { manifest } : {}),
          ...(typeof encryptionConfig === 'string' ? { encryptionConfig } : {}),
          // The same rule as every other command: text for a person at a terminal, JSON for a pipe.
          output: chooseFace(typeof output === 'string' ? output : undefined, process.stdout, process.env).format,
          timeout: String(timeout),
        }),
      );
    });
}
