import { describe, expect, it } from 'vitest';
import { runCli } from '#src/adapters/inbound/cli/cli.js';
import type { UsageOutcome, UsageRequest } from '#src/adapters/inbound/cli/cli-app.js';
import type { UsageReport } from '#src/domain/model/usage.js';
import { type FakeConfig, fakeCliApp } from '../../../../support/fake-cli-app.js';
import { capturedOutput } from '../../../../support/captured-output.js';

const argv = (...args: string[]) => ['node', 'kleidi', ...args];

const REPORT: UsageReport = {
  prefix: '/registry',
  scannedAt: '2026-12-06T01:00:00.000Z',
  onlyResources: [],
  revision: 812,
  scanned: 6,
  elapsedMs: 1234,
  resources: [
    {
      resource: 'secrets',
      total: 6,
      cells: [
        { kind: 'kms-v2', provider: 'kleidi', keyId: 'local:v1:aa', version: 1, current: false, count: 3 },
        { kind: 'kms-v2', provider: 'kleidi', keyId: 'local:v2:bb', version: 2, current: true, count: 2 },
        { kind: 'identity', count: 1 },
      ],
    },
  ],
  keyIds: [
    { provider: 'kleidi', keyId: 'local:v1:aa', count: 3, version: 1, current: false },
    { provider: 'kleidi', keyId: 'local:v2:bb', count: 2, version: 2, current: true },
  ],
  unusedVersions: [{ version: 3, keyId: 'local:v3:cc', current: false }],
};

function fakeApp(outcome: UsageOutcome) {
  const seen: { config: FakeConfig; req: UsageRequest }[] = [];
  const app = fakeCliApp({
    usage: async (config, req) => {
      seen.push({ config, req });
      return outcome;
    },
  });
  return { app, seen };
}

describe('kleidi usage', () => {
  const output = capturedOutput();

  it("passes kube-apiserver's etcd flags and the scan's limits; the backend flags configure the key list", async () => {
    const { app, seen } = fakeApp({ report: REPORT });
    const code = await runCli(
      argv(
        'usage',
        '--etcd-servers',
        'https://10.0.0.1:2379, https://10.0.0.2:2379',
        '--etcd-cafile',
        '/pki/ca.crt',
        '--etcd-certfile',
        '/pki/c.crt',
        '--etcd-keyfile',
        '/pki/c.key',
        '--resources',
        'secrets,configmaps',
        '--rate',
        '200',
        '--page-size',
        '50',
        '--state-dir',
        '/s',
        '--output',
        'json',
      ),
      app,
    );
    expect(code).toBe(0);
    expect(seen[0]?.config).toEqual({ flags: { stateDir: '/s' } });
    expect(seen[0]?.req).toEqual({
      etcd: {
        servers: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'],
        caFile: '/pki/ca.crt',
        certFile: '/pki/c.crt',
        keyFile: '/pki/c.key',
      },
      prefix: '/registry',
      resources: ['secrets', 'configmaps'],
      pageSize: 50,
      maxKeysPerSecond: 200,
      withKeys: true,
      onProgress: expect.any(Function),
    });
    expect(JSON.parse(output.out())).toEqual(REPORT);
  });

  it('prints per-resource and per-key-id tables, and says which versions hold nothing', async () => {
    const { app, seen } = fakeApp({ report: REPORT, keysUnavailable: 'keyring not found' });
    expect(
      await runCli(argv('usage', '--etcd-servers', 'http://127.0.0.1:2379', '--no-keys', '--output', 'text'), app),
    ).toBe(0);
    expect(seen[0]?.req.withKeys).toBe(false);
    expect(output.out()).toBe(
      [
        'etcd /registry at revision 812: 6 objects in 1.2 s',
        '',
        'RESOURCE  STORED AS  PROVIDER  KEY ID       VERSION      OBJECTS',
        'secrets   kms-v2     kleidi    local:v1:aa  1            3',
        'secrets   kms-v2     kleidi    local:v2:bb  2 (current)  2',
        'secrets   identity   -         -            -            1',
        '',
        'KEY ID       PROVIDER  VERSION  CURRENT  OBJECTS',
        'local:v1:aa  kleidi    1                 3',
        'local:v2:bb  kleidi    2        yes      2',
        'local:v3:cc  -         3                 0',
        '',
        'a version with 0 objects and not current protects nothing in this scan',
        '',
      ].join('\n'),
    );
    expect(output.err()).toContain('key versions not shown: keyring not found');
  });

  it('refuses a missing --etcd-servers and a rate that is not a positive integer', async () => {
    const { app, seen } = fakeApp({ report: REPORT });
    expect(await runCli(argv('usage'), app)).not.toBe(0);
    expect(await runCli(argv('usage', '--etcd-servers', 'http://h:1', '--rate', '0'), app)).not.toBe(0);
    expect(seen).toEqual([]);
    expect(output.err()).toContain('--etcd-servers');
  });
});
