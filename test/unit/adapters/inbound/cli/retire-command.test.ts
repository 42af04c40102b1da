import { chmod, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '#src/adapters/inbound/cli/cli.js';
import type { RetireRequest } from '#src/adapters/inbound/cli/cli-app.js';
import { InMemoryKeyWrapper } from '#src/adapters/outbound/in-memory/in-memory.key-wrapper.js';
import type { ScanEvidence } from '#src/domain/model/retire-decision.js';
import type { UsageReport } from '#src/domain/model/usage.js';
import { retireVersion } from '#src/domain/services/retire-version.js';
import { type FakeConfig, fakeCliApp } from '../../../../support/fake-cli-app.js';
import { aSignal } from '../../../../support/builders.js';
import { capturedOutput } from '../../../../support/captured-output.js';
import { tempDir } from '../../../../support/kleidi-process.js';

const argv = (...args: string[]) => ['node', 'kleidi', ...args];
const MIN = 60_000;

/** A scan of `keyIds` counts, started `ageMs` ago. */
function report(cells: [keyId: string, count: number][], ageMs = MIN): UsageReport {
  return {
    prefix: '/registry',
    scannedAt: new Date(Date.now() - ageMs).toISOString(),
    onlyResources: [],
    revision: 812,
    scanned: cells.reduce((n, [, c]) => n + c, 0),
    elapsedMs: 1234,
    resources: [
      {
        resource: 'secrets',
        total: cells.reduce((n, [, c]) => n + c, 0),
        cells: cells.map(([keyId, count]) => ({ kind: 'kms-v2', provider: 'kleidi', keyId, count })),
      },
    ],
    keyIds: cells.map(([keyId, count]) => ({ provider: 'kleidi', keyId, count })),
    unusedVersions: [],
  };
}

/**
 * The CLI over the real use case and the in-memory reference KeyAdmin (v1..v3, v3 current); the
 * fresh scan is `fresh(keyIds)`, a saved one whatever the CLI read.
 */
async function fakeApp(fresh: (ids: string[]) => ScanEvidence) {
  const admin = new InMemoryKeyWrapper();
  await admin.init(aSignal());
  await admin.rotate(aSignal());
  await admin.rotate(aSignal());
  const ids = (await admin.list(aSignal())).map((k) => k.keyId as string);
  const seen: { config: FakeConfig; req: RetireRequest }[] = [];
  const app = fakeCliApp({
    retire: async (config, req, signal) => {
      seen.push({ config, req });
      const s = req.scan;
      return retireVersion(
        admin,
        { ...req, now: () => new Date(), scan: async () => (s.saved ? s.report : fresh(ids)) },
        signal,
      );
    },
  });
  return { app, seen, ids, admin };
}

const notes = async (admin: InMemoryKeyWrapper) => (await admin.list(aSignal())).map((k) => k.note ?? '');

describe('kleidi retire', () => {
  const output = capturedOutput();

  it("scans with kube-apiserver's etcd flags, of every resource, and retires a version the scan shows empty", async () => {
    const { app, seen, ids, admin } = await fakeApp((ids) => report([[ids[2]!, 40]]));
    const code = await runCli(
      argv(
        'retire',
        '1',
        '--etcd-servers',
        'https://10.0.0.1:2379,https://10.0.0.2:2379',
        '--etcd-cafile',
        '/pki/ca.crt',
        '--etcd-certfile',
        '/pki/c.crt',
        '--etcd-keyfile',
        '/pki/c.key',
        '--rate',
        '300',
        '--state-dir',
        '/s',
        '--output',
        'json',
      ),
      app,
    );
    expect(code, output.err()).toBe(0);
    expect(seen[0]?.config).toEqual({ flags: { stateDir: '/s' } });
    expect(seen[0]?.req).toEqual({
      version: 1,
      force: false,
      maxScanAgeMs: 15 * MIN,
      serving: [],
      scan: {
        saved: false,
        etcd: {
          etcd: {
            servers: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'],
            caFile: '/pki/ca.crt',
            certFile: '/pki/c.crt',
            keyFile: '/pki/c.key',
          },
          prefix: '/registry',
          pageSize: 500,
          maxKeysPerSecond: 300,
          onProgress: expect.any(Function),
        },
      },
    });
    const out = JSON.parse(output.out()) as Record<string, unknown>;
    expect(out).toMatchObject({
      backend: 'in-memory',
      version: 1,
      keyId: ids[0],
      retired: true,
      action: 'forgotten by this process',
      overridden: [],
      scan: { revision: 812 },
    });
    expect(await notes(admin)).toEqual(['retired', '', '']);
  });

  it('refuses while objects remain: prints the scan and the count, exits 3, changes nothing', async () => {
    const { app, ids, admin } = await fakeApp((ids) =>
      report([
        [ids[0]!, 700],
        [ids[2]!, 5],
      ]),
    );
    expect(await runCli(argv('retire', '1', '--etcd-servers', 'http://127.0.0.1:2379', '--output', 'text'), app)).toBe(
      3,
    );
    const text = output.out();
    expect(text).toContain(`secrets   kms-v2     kleidi    ${ids[0]}  -        700`);
    expect(text).toContain(`refused: version 1 (${ids[0]}) of backend in-memory was not retired; nothing changed`);
    expect(text).toContain(`  - 700 objects are still stored under ${ids[0]} (secrets 700): rewrite them`);
    expect(text).toContain('--force retires anyway and that data is lost');
    expect(await notes(admin)).toEqual(['', '', '']);

    expect(await runCli(argv('retire', '1', '--etcd-servers', 'http://h:1', '--force', '--output', 'text'), app)).toBe(
      0,
    );
    expect(output.out()).toContain(
      `--force set aside: 700 objects stored under ${ids[0]} (secrets 700) can no longer be read`,
    );
    expect(await notes(admin)).toEqual(['retired', '', '']);
  });

  it('refuses the current version from the key list alone, in JSON, without a scan', async () => {
    const { app } = await fakeApp(() => {
      throw new Error('no scan expected');
    });
    expect(await runCli(argv('retire', '3', '--etcd-servers', 'http://h:1', '--force', '--output', 'json'), app)).toBe(
      3,
    );
    expect(JSON.parse(output.out())).toMatchObject({ version: 3, retired: false, refusals: [{ kind: 'current' }] });
    expect(JSON.parse(output.out())).not.toHaveProperty('scan');
  });

  it('takes a saved scan, refuses it when older than --max-scan-age even with --force, and accepts a larger age', async () => {
    const { app, ids, admin } = await fakeApp(() => {
      throw new Error('no fresh scan expected');
    });
    const tmp = await tempDir('kleidi-retire-cli-');
    try {
      const file = join(tmp.dir, 'scan.json');
      await writeFile(file, JSON.stringify(report([[ids[2]!, 9]], 20 * MIN)));
      const old = await runCli(argv('retire', '2', '--scan', file, '--force', '--output', 'text'), app);
      expect(old).toBe(3);
      expect(output.out()).toContain(`saved scan ${file}: started `);
      expect(output.out()).toMatch(/the scan is 20\.0 min old, more than --max-scan-age 15\.0 min: scan again/);
      expect(await notes(admin)).toEqual(['', '', '']);
      const mark = output.out().length;
      expect(await runCli(argv('retire', '2', '--scan', file, '--max-scan-age', '30m', '--output', 'json'), app)).toBe(
        0,
      );
      expect(JSON.parse(output.out().slice(mark))).toMatchObject({ retired: true, scanFile: file });
      expect(await notes(admin)).toEqual(['', 'retired', '']);
    } finally {
      await tmp.cleanup();
    }
  });

  it('refuses a saved scan others may write, or reached through a link: it is the evidence that allows a retire', async () => {
    const { app, ids, admin } = await fakeApp(() => {
      throw new Error('no fresh scan expected');
    });
    const tmp = await tempDir('kleidi-retire-cli-');
    try {
      const file = join(tmp.dir, 'scan.json');
      await writeFile(file, JSON.stringify(report([[ids[2]!, 9]], MIN)));
      await chmod(file, 0o666);
      expect(await runCli(argv('retire', '1', '--scan', file, '--output', 'json'), app)).toBe(2);
      expect(output.err()).toMatch(/has mode 0666; a scan others may write proves nothing/);
      await chmod(file, 0o644);
      const link = join(tmp.dir, 'link.json');
      await symlink(file, link);
      expect(await runCli(argv('retire', '1', '--scan', link, '--output', 'json'), app)).toBe(2);
      expect(output.err()).toMatch(/cannot read the saved scan .*link\.json/);
      expect(await notes(admin)).toEqual(['', '', '']);
    } finally {
      await tmp.cleanup();
    }
  });

  it('refuses bad input before opening anything: no source, two sources, a file that is not a report, a bad age', async () => {
    const { app, seen } = await fakeApp(() => report([]));
    const tmp = await tempDir('kleidi-retire-cli-');
    try {
      const junk = join(tmp.dir, 'junk.json');
      await writeFile(junk, JSON.stringify({ prefix: '/registry', resources: 'many' }));
      expect(await runCli(argv('retire', '1'), app)).toBe(2);
      expect(output.err()).toContain('give either --etcd-servers (scan now) or --scan FILE');
      expect(await runCli(argv('retire', '1', '--etcd-servers', 'http://h:1', '--scan', junk), app)).toBe(2);
      expect(await runCli(argv('retire', '1', '--scan', junk), app)).toBe(2);
      expect(output.err()).toContain(`${junk} is not a \`kleidi usage --output json\` report`);
      const text = join(tmp.dir, 'scan.txt');
      await writeFile(text, 'etcd /registry at revision 812: 6 objects in 1.2 s\n');
      expect(await runCli(argv('retire', '1', '--scan', text), app)).toBe(2);
      expect(output.err()).toContain(`${text} is not JSON; save a scan with \`kleidi usage --output json > ${text}\``);
      // A KMSv2 cell without its key_id could hide objects under the version.
      const blind = report([['local:v3:x', 4]]);
      const cells = [{ kind: 'kms-v2', provider: 'kleidi', count: 4 }];
      await writeFile(junk, JSON.stringify({ ...blind, resources: [{ resource: 'secrets', total: 4, cells }] }));
      expect(await runCli(argv('retire', '1', '--scan', junk), app)).toBe(2);
      expect(output.err()).toContain('a cell of resource "secrets" is not a count of objects');
      expect(await runCli(argv('retire', '1', '--scan', join(tmp.dir, 'none.json')), app)).toBe(2);
      expect(output.err()).toContain('cannot read the saved scan');
      expect(await runCli(argv('retire', '1', '--etcd-servers', 'http://h:1', '--max-scan-age', 'soon'), app)).not.toBe(
        0,
      );
      expect(await runCli(argv('retire', 'one', '--etcd-servers', 'http://h:1'), app)).not.toBe(0);
      const sock = join(tmp.dir, 'none.sock');
      expect(await runCli(argv('retire', '1', '--etcd-servers', 'http://h:1', '--socket', sock), app)).toBe(1);
      expect(output.err()).toContain(`kleidi retire: ${sock}: `);
      expect(output.err()).toContain('; nothing retired');
      expect(seen).toEqual([]);
    } finally {
      await tmp.cleanup();
    }
  });

  it('--help explains the gate, the sources, --force and the exit codes', async () => {
    const { app } = await fakeApp(() => report([]));
    await runCli(argv('retire', '--help'), app);
    const help = output.out();
    for (const text of [
      '--scan <file>',
      '--max-scan-age',
      '--force',
      '--etcd-servers',
      'Exit codes: 0 retired, 3 refused',
      'snapshot',
    ])
      expect(help).toContain(text);
  });
});
