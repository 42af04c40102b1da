import { spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsTestClient } from '../../support/grpc-client.js';
import { startKleidi, tempDir, type KleidiProcess } from '../../support/kleidi-process.js';
import { startSwtpm, type Swtpm } from '../../support/swtpm.fixture.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const MAIN = join(ROOT, 'dist/main.js');
const DOC_PATH = join(ROOT, 'docs/backends/tpm.md');

/** The shell lines of docs/backends/tpm.md this test runs, each checked to be there verbatim. */
const RING_HOLDER = [
  'install -d -m 0700 /root/kleidi-ring && cd /root/kleidi-ring',
  'head -c 24 /dev/urandom | base64 > tpm-auth && chmod 0600 tpm-auth    # 32 characters',
  'export KLEIDI_TPM_RING_FILE=/root/kleidi-ring/tpm-ring.json KLEIDI_TPM_AUTH_FILE=/root/kleidi-ring/tpm-auth',
  'kleidi tpm add-version                                                  # version 1, tpm:v1:<check>',
];
const ENROLL = [
  'tpm2_getcap properties-fixed | grep -A1 TPM2_PT_FAMILY_INDICATOR   # a TPM 2.0 answers',
  'kleidi tpm enroll --state-dir /var/lib/kleidi > cp1.enroll.json    # cp2.enroll.json on cp2, …',
  'grep srkName cp1.enroll.json                                       # note it: step 3 shows it again',
];
const PROVISION = (n: string) => `kleidi tpm provision --node-pub ${n}.enroll.json --out ${n}.bundle.json`;
const IMPORT = [
  'install -d -m 0700 -o kleidi /etc/kleidi',
  "install -m 0600 -o kleidi tpm-auth /etc/kleidi/tpm-auth           # the ring holder's file",
  'export KLEIDI_TPM_AUTH_FILE=/etc/kleidi/tpm-auth',
  'kleidi tpm import --state-dir /var/lib/kleidi --bundle cp1.bundle.json',
  'kleidi keys --backend tpm --state-dir /var/lib/kleidi              # tpm:v1:<check>, current',
  'shred -u cp1.bundle.json',
];
const ROTATE = [
  'kleidi tpm add-version                                                       # version 2',
  'kleidi tpm provision --node-pub cp1.enroll.json --out cp1.bundle.json --current 1',
];

interface Machine {
  readonly name: string;
  /** A node: `cp1` in the documented per-node lines stands for it. */
  readonly node: boolean;
  readonly dir: string;
  /** What `export` lines set, and the machine's TPM. */
  readonly env: Record<string, string>;
  /** Doc paths → this machine's temporary paths. */
  readonly paths: readonly (readonly [string, string])[];
}

/**
 * Runs one documented line in bash on `m`, `kleidi` being the built CLI. The substitutions are
 * only these: the doc's absolute paths become the machine's temporary directories, `cp1` the
 * machine's name, and `-o kleidi` is dropped (the test runs as the user kleidi runs as).
 * An `export` line sets the machine's environment for the lines after it.
 */
async function sh(m: Machine, docLine: string): Promise<string> {
  let line = (m.node ? docLine.replaceAll('cp1', m.name) : docLine).replaceAll('-o kleidi ', '');
  for (const [from, to] of m.paths) line = line.replaceAll(from, to);
  const exported = /^export (.*)$/.exec(line);
  if (exported) {
    for (const kv of (exported[1] as string).split(/\s+/)) {
      const [k, v] = kv.split('=');
      m.env[k as string] = v as string;
    }
    return '';
  }
  const prelude = 'set -eo pipefail; kleidi() { "$T_NODE" "$T_MAIN" "$@"; }\n';
  return new Promise((ok, fail) => {
    const p = spawn('bash', ['-c', prelude + line], {
      cwd: m.dir,
      env: { ...process.env, ...m.env, T_NODE: process.execPath, T_MAIN: MAIN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.once('exit', (code) =>
      code === 0 ? ok(out) : fail(new Error(`${m.name}$ ${line}\nexit ${code}\n${out}${err}`)),
    );
  });
}

/**
 * docs/backends/tpm.md "Provisioning a three-node control plane", walked with the CLI on three
 * swtpm instances (three nodes) and a ring holder with no TPM: enroll on each node, provision on
 * the ring holder, import on each node, serve, and every node decrypts what the others
 * encrypted. Then the documented two-phase rotation.
 */
describe('kleidi tpm: the documented three-node provisioning', () => {
  let doc: string;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let holder: Machine;
  const swtpms: Swtpm[] = [];
  const nodes: Machine[] = [];
  const served: KleidiProcess[] = [];
  const documented = (line: string) => {
    expect(doc, `docs/backends/tpm.md has the line: ${line}`).toContain(line);
    return line;
  };

  beforeAll(async () => {
    doc = await readFile(DOC_PATH, 'utf8');
    tmp = await tempDir('kleidi-tpm-cli-');
    const holderDir = join(tmp.dir, 'ring-holder');
    await mkdir(holderDir, { mode: 0o700 });
    holder = { name: 'holder', node: false, dir: holderDir, env: {}, paths: [['/root/kleidi-ring', holderDir]] };
    for (const name of ['cp1', 'cp2', 'cp3']) {
      const swtpm = await startSwtpm();
      swtpms.push(swtpm);
      const dir = join(tmp.dir, name);
      await mkdir(dir, { mode: 0o700 });
      nodes.push({
        name,
        node: true,
        dir,
        env: { KLEIDI_TPM_DEVICE: `swtpm:127.0.0.1:${swtpm.port}`, TPM2TOOLS_TCTI: swtpm.tcti },
        paths: [
          ['/var/lib/kleidi', join(dir, 'state')],
          ['/etc/kleidi', join(dir, 'etc')],
        ],
      });
    }
  });
  afterAll(async () => {
    await Promise.all(served.map((k) => k.stop()));
    for (const s of swtpms) await s.stop();
    await tmp?.cleanup();
  });

  const carry = (from: Machine, to: Machine, file: string) => copyFile(join(from.dir, file), join(to.dir, file));
  const keysOf = async (m: Machine) =>
    JSON.parse(await sh(m, IMPORT[4] as string)) as { keys: { keyId: string; version: number; current: boolean }[] };

  it('provisions three nodes from one ring without the ring on any node, and they decrypt each other', async () => {
    // 1. The ring holder: auth value and ring.
    for (const line of RING_HOLDER.slice(0, 3)) await sh(holder, documented(line));
    const first = JSON.parse(await sh(holder, documented(RING_HOLDER[3] as string))) as Record<string, unknown>;
    expect(first).toMatchObject({ version: 1, created: true });
    expect(first.keyId).toMatch(/^tpm:v1:[0-9a-f]{16}$/);
    expect((await stat(join(holder.dir, 'tpm-ring.json'))).mode & 0o777).toBe(0o600);

    // 2. Each node enrolls; its enrollment goes to the ring holder.
    const names: string[] = [];
    for (const n of nodes) {
      expect(await sh(n, documented(ENROLL[0] as string))).toMatch(/TPM2_PT_FAMILY_INDICATOR/);
      await sh(n, documented(ENROLL[1] as string));
      names.push(/"srkName": "([0-9a-f]+)"/.exec(await sh(n, documented(ENROLL[2] as string)))?.[1] as string);
      await carry(n, holder, `${n.name}.enroll.json`);
    }
    expect(new Set(names).size).toBe(3);

    // 3. The ring holder makes a bundle per node, naming the SRK it was made for; no key material printed.
    for (const [i, n] of nodes.entries()) {
      const out = await sh(holder, documented(PROVISION(n.name)));
      const r = JSON.parse(out) as Record<string, unknown>;
      expect(r).toMatchObject({ srkName: names[i], current: 1, versions: [{ version: 1, keyId: first.keyId }] });
      const ring = JSON.parse(await readFile(join(holder.dir, 'tpm-ring.json'), 'utf8')) as {
        versions: { kek: string }[];
      };
      expect(out).not.toContain(ring.versions[0]?.kek);
      expect((await stat(join(holder.dir, `${n.name}.bundle.json`))).mode & 0o777).toBe(0o600);
      await carry(holder, n, `${n.name}.bundle.json`);
      await carry(holder, n, 'tpm-auth');
    }

    // A bundle made for another node's TPM is refused, and nothing is written.
    await expect(
      sh(
        { ...(nodes[0] as Machine), env: { ...nodes[0]?.env } },
        'kleidi tpm import --state-dir /var/lib/kleidi --bundle ../cp2/cp2.bundle.json',
      ),
    ).rejects.toThrow(/made for the TPM whose SRK name is/);
    await expect(stat(join(nodes[0]?.dir as string, 'state', 'tpm-node-keys.json'))).rejects.toThrow(/ENOENT/);

    // 4. Each node imports its own bundle; the key_id is the same everywhere; no ring on any node.
    for (const n of nodes) {
      for (const line of IMPORT.slice(0, 3)) await sh(n, documented(line));
      const imported = JSON.parse(await sh(n, documented(IMPORT[3] as string))) as Record<string, unknown>;
      expect(imported).toMatchObject({ current: 1, versions: [{ version: 1, keyId: first.keyId, imported: true }] });
      expect((await keysOf(n)).keys).toEqual([{ keyId: first.keyId, version: 1, current: true }]);
      await sh(n, documented(IMPORT[5] as string));
      await expect(stat(join(n.dir, 'state', 'tpm-ring.json'))).rejects.toThrow(/ENOENT/);
      await expect(stat(join(n.dir, 'cp1.bundle.json'.replace('cp1', n.name)))).rejects.toThrow(/ENOENT/);
    }

    // 5. Serve on each node: one key_id, and every node decrypts what every other encrypted.
    for (const n of nodes) served.push(await startKleidi(n.dir, ['--backend', 'tpm'], n.env));
    const clients = served.map((k) => new KmsTestClient(k.socket));
    try {
      for (const c of clients) expect((await c.status()).keyId).toBe(first.keyId);
      for (const [i, c] of clients.entries()) {
        const plaintext = Buffer.from(`secret written through cp${i + 1}`);
        const enc = await c.encrypt(plaintext);
        expect(enc.keyId).toBe(first.keyId);
        for (const other of clients) {
          const dec = await other.decrypt({
            ciphertext: enc.ciphertext,
            keyId: enc.keyId,
            annotations: enc.annotations,
          });
          expect(Buffer.from(dec.plaintext)).toEqual(plaintext);
        }
      }
    } finally {
      for (const c of clients) c.close();
    }
    // About 25 CLI processes and three swtpm RSA key derivations: minutes on a loaded 2-core machine.
  }, 240_000);

  it('rotates in two phases: every node decrypts the new version before any encrypts with it', async () => {
    const clients = served.map((k) => new KmsTestClient(k.socket));
    try {
      const v1 = (await clients[0]?.status())?.keyId;
      const added = JSON.parse(await sh(holder, documented(ROTATE[0] as string))) as { version: number; keyId: string };
      expect(added).toMatchObject({ version: 2, created: false });
      // Phase 1: every node imports version 2, version 1 stays current.
      for (const n of nodes) {
        const r = JSON.parse(await sh(holder, documented(ROTATE[1] as string).replaceAll('cp1', n.name))) as {
          current: number;
        };
        expect(r.current).toBe(1);
        await carry(holder, n, `${n.name}.bundle.json`);
        const imported = JSON.parse(await sh(n, IMPORT[3] as string)) as { current: number; versions: unknown[] };
        expect(imported).toMatchObject({
          current: 1,
          versions: [
            { version: 1, imported: false },
            { version: 2, keyId: added.keyId, imported: true },
          ],
        });
      }
      // Phase 2, on cp1 first: it switches to version 2 at its next refresh; cp2 and cp3, still
      // at phase 1, decrypt what it now writes.
      await sh(holder, PROVISION('cp1'));
      await carry(holder, nodes[0] as Machine, 'cp1.bundle.json');
      await sh(nodes[0] as Machine, IMPORT[3] as string);
      await waitFor(async () => (await clients[0]?.status())?.keyId === added.keyId);
      expect((await clients[1]?.status())?.keyId).toBe(v1);
      const plaintext = Buffer.from('written with version 2');
      const enc = await (clients[0] as KmsTestClient).encrypt(plaintext);
      expect(enc.keyId).toBe(added.keyId);
      for (const other of clients.slice(1)) {
        const dec = await other.decrypt({ ciphertext: enc.ciphertext, keyId: enc.keyId, annotations: enc.annotations });
        expect(Buffer.from(dec.plaintext)).toEqual(plaintext);
      }
      expect((await keysOf(nodes[0] as Machine)).keys.map((k) => [k.version, k.current])).toEqual([
        [1, false],
        [2, true],
      ]);
    } finally {
      for (const c of clients) c.close();
    }
  }, 180_000);
});

async function waitFor(cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
