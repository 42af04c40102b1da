import { describe, expect, it } from 'vitest';
import { runCli } from '#src/adapters/inbound/cli/cli.js';
import type { TpmProvisioning } from '#src/adapters/inbound/cli/cli-app.js';
import { capturedOutput } from '../../../../support/captured-output.js';
import { fakeCliApp } from '../../../../support/fake-cli-app.js';

const argv = (...args: string[]) => ['node', 'kleidi', ...args];

/** A CliApp whose `tpm` records the configuration and calls it was given. */
function fakeApp(ops: Partial<TpmProvisioning>) {
  const configs: Record<string, unknown>[] = [];
  const calls: unknown[][] = [];
  const notWired = () => Promise.reject(new Error('not wired'));
  const app = fakeCliApp({
    backendNames: ['local', 'tpm'],
    configure: (flags) => {
      configs.push(flags);
      return { ok: true, config: { flags } };
    },
    tpm: () => ({
      enroll: ops.enroll ?? notWired,
      addVersion: ops.addVersion ?? notWired,
      provision: async (...a) => {
        calls.push(['provision', ...a]);
        return (ops.provision ?? notWired)(...a);
      },
      importBundle: async (...a) => {
        calls.push(['import', ...a]);
        return (ops.importBundle ?? notWired)(...a);
      },
    }),
  });
  return { app, configs, calls };
}

describe('kleidi tpm', () => {
  const output = capturedOutput();

  it('enroll prints the enrollment document as JSON and loads the configuration with backend tpm', async () => {
    const doc = { format: 'kleidi-tpm-enrollment/1', srkPublic: 'AAEC', srkName: '000b00' };
    const { app, configs } = fakeApp({ enroll: async () => ({ document: doc, srkName: '000b00' }) });
    expect(await runCli(argv('tpm', 'enroll', '--state-dir', '/s'), app)).toBe(0);
    expect(JSON.parse(output.out())).toEqual(doc);
    expect(configs).toEqual([{ stateDir: '/s', backend: 'tpm' }]);
  });

  it('provision passes the files and --current, and prints versions and key_ids only', async () => {
    const { app, calls } = fakeApp({
      provision: async () => ({
        srkName: '000bff',
        current: 1,
        versions: [
          { version: 1, keyId: 'tpm:v1:aa' },
          { version: 2, keyId: 'tpm:v2:bb' },
        ],
      }),
    });
    const code = await runCli(
      argv('tpm', 'provision', '--node-pub', 'cp2.json', '--out', 'cp2.bundle', '--current', '1', '--output', 'text'),
      app,
    );
    expect(code).toBe(0);
    expect(calls).toEqual([['provision', 'cp2.json', 'cp2.bundle', 1]]);
    expect(output.out()).toContain('wrote cp2.bundle');
    expect(output.out()).toContain('000bff');
    expect(output.out()).toMatch(/\*\s+1\s+tpm:v1:aa/);
    expect(output.out()).toMatch(/\n\s+2\s+tpm:v2:bb/);
  });

  it('provision without --current lets the ring choose; JSON names the bundle', async () => {
    const { app, calls } = fakeApp({
      provision: async () => ({ srkName: '000b', current: 3, versions: [{ version: 3, keyId: 'tpm:v3:cc' }] }),
    });
    expect(await runCli(argv('tpm', 'provision', '--node-pub', 'a', '--out', 'b', '--output', 'json'), app)).toBe(0);
    expect(calls).toEqual([['provision', 'a', 'b', undefined]]);
    expect(JSON.parse(output.out())).toEqual({
      bundle: 'b',
      srkName: '000b',
      current: 3,
      versions: [{ version: 3, keyId: 'tpm:v3:cc' }],
    });
  });

  it('refuses a --current that is not a version number, and a provision without --node-pub', async () => {
    const { app, calls } = fakeApp({});
    expect(await runCli(argv('tpm', 'provision', '--node-pub', 'a', '--out', 'b', '--current', '0'), app)).toBe(1);
    expect(output.err()).toContain('a version number');
    expect(await runCli(argv('tpm', 'provision', '--out', 'b'), app)).toBe(1);
    expect(output.err()).toContain("required option '--node-pub <file>' not specified");
    expect(calls).toEqual([]);
  });

  it('import reports what was imported and what the node already held', async () => {
    const { app, calls } = fakeApp({
      importBundle: async () => ({
        srkName: '000b',
        current: 2,
        versions: [
          { version: 1, keyId: 'tpm:v1:aa', imported: false },
          { version: 2, keyId: 'tpm:v2:bb', imported: true },
        ],
      }),
    });
    expect(await runCli(argv('tpm', 'import', '--bundle', 'cp2.bundle', '--output', 'text'), app)).toBe(0);
    expect(calls).toEqual([['import', 'cp2.bundle']]);
    expect(output.out()).toContain('imported 1 version\n');
    expect(output.out()).toMatch(/\s+1\s+tpm:v1:aa\s+held/);
    expect(output.out()).toMatch(/\*\s+2\s+tpm:v2:bb\s+imported/);
  });

  it('add-version says whether it created the ring', async () => {
    const { app } = fakeApp({ addVersion: async () => ({ version: 1, keyId: 'tpm:v1:aa', created: true }) });
    expect(await runCli(argv('tpm', 'add-version', '--output', 'text'), app)).toBe(0);
    expect(output.out()).toContain('created the KEK ring with its first version');
    expect(output.out()).toContain('tpm:v1:aa');
  });

  it('prints a failed step on stderr and exits 1', async () => {
    const { app } = fakeApp({ importBundle: () => Promise.reject(new Error('the bundle was made for another TPM')) });
    expect(await runCli(argv('tpm', 'import', '--bundle', 'x'), app)).toBe(1);
    expect(output.err()).toBe('kleidi: the bundle was made for another TPM\n');
  });
});
