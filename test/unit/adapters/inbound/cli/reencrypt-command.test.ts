import { describe, expect, it } from 'vitest';
import { runCli } from '#src/adapters/inbound/cli/cli.js';
import type { ReencryptRequest, UsageOutcome, UsageRequest } from '#src/adapters/inbound/cli/cli-app.js';
import { duration, progressBar, progressLines } from '#src/adapters/inbound/cli/reencrypt-progress.js';
import type { ReencryptSummary } from '#src/domain/model/reencrypt.js';
import { type FakeConfig, fakeCliApp } from '../../../../support/fake-cli-app.js';
import { capturedOutput } from '../../../../support/captured-output.js';

const argv = (...args: string[]) => ['node', 'kleidi', ...args];

const SUMMARY: ReencryptSummary = {
  cluster: 'https://10.0.0.1:6443',
  dryRun: false,
  resumed: true,
  interrupted: false,
  elapsedMs: 65_000,
  objectsPerSecond: 24.9,
  resources: [
    {
      resource: 'secrets',
      listed: 1200,
      rewritten: 700,
      deleted: 2,
      alreadyDone: 498,
      conflicts: 1,
      retries: 0,
      listRestarts: 0,
      done: true,
    },
    {
      resource: 'deployments.apps',
      listed: 20,
      rewritten: 20,
      deleted: 0,
      alreadyDone: 0,
      conflicts: 0,
      retries: 3,
      listRestarts: 0,
      done: true,
    },
  ],
};

const USAGE: UsageOutcome = {
  report: {
    prefix: '/registry',
    revision: 99,
    scannedAt: '2026-12-06T00:00:00.000Z',
    onlyResources: [],
    scanned: 1220,
    elapsedMs: 300,
    resources: [
      {
        resource: 'secrets',
        total: 1200,
        cells: [{ kind: 'kms-v2', provider: 'kleidi', keyId: 'local:v2:bb', version: 2, current: true, count: 1200 }],
      },
      { resource: 'deployments', total: 20, cells: [{ kind: 'identity', count: 20 }] },
    ],
    keyIds: [{ provider: 'kleidi', keyId: 'local:v2:bb', count: 1200, version: 2, current: true }],
    unusedVersions: [{ version: 1, keyId: 'local:v1:aa', current: false }],
  },
};

function fakeApp(summary: ReencryptSummary | Error, progressFirst = true) {
  const seen: { reencrypt: ReencryptRequest[]; usage: { config: FakeConfig; req: UsageRequest }[] } = {
    reencrypt: [],
    usage: [],
  };
  const app = fakeCliApp({
    usage: async (config, req) => {
      seen.usage.push({ config, req });
      return USAGE;
    },
    reencrypt: async (req) => {
      seen.reencrypt.push(req);
      if (summary instanceof Error) {
        if (progressFirst)
          req.onProgress?.({
            resource: 'secrets',
            resourceIndex: 1,
            resourceCount: 1,
            position: 1,
            handled: 1,
            elapsedMs: 1,
          });
        throw summary;
      }
      return summary;
    },
  });
  return { app, seen };
}

describe('kleidi reencrypt', () => {
  const output = capturedOutput();

  it('passes the connection, resources, pace and checkpoint; then the usage check of the same resources', async () => {
    const { app, seen } = fakeApp(SUMMARY);
    const code = await runCli(
      argv(
        'reencrypt',
        ...['--kubeconfig', '/k/config', '--context', 'prod', '--resources', 'secrets, Deployments.apps'],
        ...['--rate', '10', '--page-size', '100', '--state', '/tmp/s.json', '--checkpoint-every', '7'],
        ...[
          '--etcd-servers',
          'https://10.0.0.1:2379',
          '--etcd-keyfile',
          '/pki/k',
          '--state-dir',
          '/s',
          '--output',
          'json',
        ],
      ),
      app,
    );
    expect(code).toBe(0);
    const req = seen.reencrypt[0];
    expect(req).toMatchObject({
      kubeconfig: '/k/config',
      context: 'prod',
      resources: [
        { name: 'secrets', group: '', resource: 'secrets' },
        { name: 'deployments.apps', group: 'apps', resource: 'deployments' },
      ],
      objectsPerSecond: 10,
      pageSize: 100,
      dryRun: false,
      restart: false,
      statePath: '/tmp/s.json',
      checkpointEvery: 7,
    });
    expect(seen.usage[0]?.config).toEqual({ flags: { stateDir: '/s' } });
    expect(seen.usage[0]?.req).toMatchObject({
      etcd: { servers: ['https://10.0.0.1:2379'], keyFile: '/pki/k' },
      resources: ['secrets', 'deployments'],
      withKeys: true,
    });
    const printed = JSON.parse(output.out());
    expect(printed).toMatchObject({ ...SUMMARY, stateFile: '/tmp/s.json', usage: { scanned: 1220 } });
  });

  it('defaults: secrets, 25 objects/s, a state file in the current directory; without etcd the check is skipped', async () => {
    const { app, seen } = fakeApp(SUMMARY);
    expect(await runCli(argv('reencrypt', '--output', 'text'), app)).toBe(0);
    expect(seen.reencrypt[0]).toMatchObject({
      resources: [{ name: 'secrets' }],
      objectsPerSecond: 25,
      pageSize: 500,
      checkpointEvery: 50,
      statePath: 'kleidi-reencrypt.state.json',
    });
    expect(seen.reencrypt[0]?.kubeconfig).toBeUndefined();
    expect(seen.usage).toEqual([]);
    expect(output.out()).toBe(
      [
        'https://10.0.0.1:6443: rewrote 720 objects in 1m05s (24.9 objects/s)',
        'resumed from kleidi-reencrypt.state.json',
        '',
        'RESOURCE          LISTED  REWRITTEN  DONE BEFORE  DELETED  CONFLICTS  RETRIES',
        'secrets           1200    700        498          2        1          0        done',
        'deployments.apps  20      20         0            0        0          3        done',
        '',
        'usage check skipped (no --etcd-servers): run `kleidi usage --etcd-servers … --resources secrets` and check that no object is left under an old key id',
        '',
      ].join('\n'),
    );
  });

  it('text: the usage check per key id, and objects not under KMS v2 called out', async () => {
    const { app } = fakeApp(SUMMARY);
    expect(await runCli(argv('reencrypt', '--etcd-servers', 'http://127.0.0.1:2379', '--output', 'text'), app)).toBe(0);
    expect(output.out()).toContain(
      [
        'usage check: etcd /registry at revision 99, 1220 objects',
        'KEY ID       PROVIDER  VERSION  CURRENT  OBJECTS',
        'local:v2:bb  kleidi    2        yes      1200',
        '20 objects not under a KMS v2 key (identity or another provider): is the resource in the EncryptionConfiguration?',
      ].join('\n'),
    );
  });

  it('exits 130 when interrupted, says how to resume, and runs no check; a dry run checks nothing either', async () => {
    const { app, seen } = fakeApp({ ...SUMMARY, interrupted: true, resumed: false });
    expect(await runCli(argv('reencrypt', '--etcd-servers', 'http://e:2379', '--output', 'text'), app)).toBe(130);
    expect(output.out()).toContain(
      'interrupted: progress saved in kleidi-reencrypt.state.json; run the same command again to resume',
    );
    expect(seen.usage).toEqual([]);

    const dry = fakeApp({ ...SUMMARY, dryRun: true });
    expect(
      await runCli(argv('reencrypt', '--dry-run', '--etcd-servers', 'http://e:2379', '--output', 'json'), dry.app),
    ).toBe(0);
    expect(dry.seen.reencrypt[0]?.dryRun).toBe(true);
    const json = output.out().slice(output.out().indexOf('{\n'));
    expect(JSON.parse(json).usage).toEqual({ skipped: 'dry run' });
  });

  it('a failure says where the progress is and that a rerun resumes; a bad resource name writes nothing', async () => {
    const { app } = fakeApp(new Error('update secrets a/b: HTTP 403 Forbidden'));
    expect(await runCli(argv('reencrypt', '--state', '/tmp/x.json'), app)).toBe(1);
    expect(output.err()).toContain(
      'kleidi: reencrypt: update secrets a/b: HTTP 403 Forbidden\nprogress is saved in /tmp/x.json: run the same command again to resume',
    );
    const early = fakeApp(new Error('no kubeconfig: give --kubeconfig'), false);
    expect(await runCli(argv('reencrypt', '--state', '/tmp/y.json'), early.app)).toBe(1);
    expect(output.err()).toContain('kleidi: reencrypt: no kubeconfig: give --kubeconfig\n');
    expect(output.err()).not.toContain('/tmp/y.json');
    const bad = fakeApp(SUMMARY);
    expect(await runCli(argv('reencrypt', '--resources', 'secrets,a/b'), bad.app)).toBe(1);
    expect(output.err()).toContain('"a/b" is not a resource name');
    expect(bad.seen.reencrypt).toEqual([]);
  });
});

describe('reencrypt progress', () => {
  const p = {
    resource: 'secrets',
    resourceIndex: 1,
    resourceCount: 2,
    position: 250,
    total: 1000,
    handled: 200,
    elapsedMs: 8_000,
  };

  it('a bar with counts, rate and ETA on a terminal, redrawn at most ten times a second', () => {
    let out = '';
    let now = 1_000;
    const bar = progressBar(
      (s) => (out += s),
      () => 100,
      () => now,
    );
    bar.show(p);
    expect(out).toBe(
      `\r\x1b[K[##########..............................] secrets (1/2) 250/1000, 25.0 objects/s, ETA 30s`,
    );
    now += 50;
    bar.show({ ...p, position: 251 });
    expect(out).not.toContain('251');
    bar.done();
    expect(out.endsWith('\r\x1b[K')).toBe(true);
  });

  it('plain lines on a pipe: when a resource starts, then every interval', () => {
    let out = '';
    let now = 0;
    const lines = progressLines(
      (s) => (out += s),
      10_000,
      () => now,
    );
    lines.show({ ...p, position: 1, total: undefined });
    now = 5_000;
    lines.show(p);
    now = 10_000;
    lines.show(p);
    lines.show({ ...p, resource: 'configmaps', resourceIndex: 2, position: 1, total: 10 });
    expect(out).toBe(
      [
        'kleidi reencrypt: secrets (1/2) 1, 25.0 objects/s',
        'kleidi reencrypt: secrets (1/2) 250/1000, 25.0 objects/s, ETA 30s',
        'kleidi reencrypt: configmaps (2/2) 1/10, 25.0 objects/s, ETA 0s',
        '',
      ].join('\n'),
    );
  });

  it('durations', () => {
    expect([duration(0), duration(59.6), duration(65), duration(3_600 * 2 + 60 * 5), duration(Number.NaN)]).toEqual([
      '0s',
      '1m00s',
      '1m05s',
      '2h05m',
      '?',
    ]);
  });
});
