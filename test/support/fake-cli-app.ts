import type { CliApp } from '#src/adapters/inbound/cli/cli-app.js';

/** What a fake CliApp's `configure` hands the commands: the flags the CLI parsed. */
export type FakeConfig = { flags: Record<string, unknown> };

/**
 * A CliApp with nothing wired behind it, for the CLI's unit tests: each test overrides what its
 * command calls, every other entry fails loudly. The one place to add an entry when the CLI gains
 * a command.
 */
export function fakeCliApp(overrides: Partial<CliApp<FakeConfig>> = {}): CliApp<FakeConfig> {
  const rejects = () => Promise.reject(new Error('not wired'));
  const throws = (): never => {
    throw new Error('not wired');
  };
  return {
    backendNames: ['local'],
    defaultBackend: 'local',
    configure: (flags) => ({ ok: true, config: { flags } }),
    serve: rejects,
    withKeyAdmin: rejects,
    usage: rejects,
    retire: rejects,
    reencrypt: rejects,
    doctor: throws,
    tpm: throws,
    version: () => ({}),
    ...overrides,
  };
}
