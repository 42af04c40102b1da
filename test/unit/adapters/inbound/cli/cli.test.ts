import { describe, expect, it, vi } from 'vitest';
import { buildCli, runCli } from '#src/adapters/inbound/cli/cli.js';
import type { CliApp } from '#src/adapters/inbound/cli/cli-app.js';
import { type FakeConfig, fakeCliApp } from '../../../../support/fake-cli-app.js';

/** A CliApp that records what the CLI asked of it; nothing is wired behind it. */
function fakeApp(overrides: Partial<CliApp<FakeConfig>> = {}) {
  const served: unknown[] = [];
  const app = fakeCliApp({
    backendNames: ['local', 'pkcs11', 'test-only'],
    serve: async (config) => {
      served.push(config);
      return 0;
    },
    version: () => ({ kleidi: '0.0.0-test' }),
    ...overrides,
  });
  return { app, served };
}

const argv = (...args: string[]) => ['node', 'kleidi', ...args];

describe('the CLI (inbound adapter)', () => {
  it('derives the --backend help from the backend names it is given', () => {
    const { app } = fakeApp();
    const program = buildCli(app, () => undefined);
    for (const name of ['serve', 'init', 'rotate', 'keys']) {
      const help = program.commands.find((c) => c.name() === name)?.helpInformation() ?? '';
      expect(help.replace(/\s+/g, ' '), name).toContain('local (default), pkcs11 or test-only');
    }
  });

  it('hands serve the configuration the app validated from the flags', async () => {
    const { app, served } = fakeApp();
    expect(await runCli(argv('serve', '--backend', 'pkcs11', '--socket', '/tmp/x.sock'), app)).toBe(0);
    expect(served).toEqual([{ flags: { backend: 'pkcs11', socket: '/tmp/x.sock' } }]);
  });

  it('exits 2 with the problems when the app refuses the configuration, and serves nothing', async () => {
    const { app, served } = fakeApp({ configure: () => ({ ok: false, message: 'invalid configuration: x' }) });
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runCli(argv('serve'), app)).toBe(2);
      expect(stderr).toHaveBeenCalledWith('kleidi: invalid configuration: x\n');
    } finally {
      stderr.mockRestore();
    }
    expect(served).toEqual([]);
  });

  it('prints the version the app reports', async () => {
    const { app } = fakeApp();
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await runCli(argv('version'), app)).toBe(0);
      expect(stdout).toHaveBeenCalledWith('{"kleidi":"0.0.0-test"}\n');
    } finally {
      stdout.mockRestore();
    }
  });

  it('passes --log-format to the configuration but keeps --output, which is only how to print, out of it', async () => {
    const configured: Record<string, unknown>[] = [];
    const { app } = fakeApp({
      configure: (flags) => {
        configured.push(flags);
        return { ok: true, config: { flags } };
      },
      withKeyAdmin: (_config, use) =>
        use({
          backend: 'local',
          list: async () => [{ keyId: 'local:v1:aa', version: 1, current: true }],
        } as unknown as Parameters<typeof use>[0]),
    });
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await runCli(argv('keys', '--log-format', 'json', '--output', 'text'), app)).toBe(0);
      expect(stdout.mock.calls.map((c) => String(c[0])).join('')).toContain('CURRENT  VERSION  KEY ID');
    } finally {
      stdout.mockRestore();
    }
    expect(configured).toEqual([{ logFormat: 'json' }]);
  });

  it('refuses an --output it does not know', async () => {
    const { app } = fakeApp();
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runCli(argv('version', '--output', 'yaml'), app)).toBe(1);
      expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toContain('Allowed choices are auto, json, text');
    } finally {
      stderr.mockRestore();
    }
  });
});
