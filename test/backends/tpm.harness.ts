import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startSwtpm, type Swtpm } from '../support/swtpm.fixture.js';
import {
  type BenchComparison,
  childEnv,
  kleidiArgv,
  kleidiInit,
  run,
  type StartOptions,
  type TestServer,
} from './harness.js';

/** Installs swtpm, swtpm-tools and tpm2-tools from Debian when missing. */
export async function prepare(): Promise<void> {
  await run('bash', ['scripts/setup-swtpm.sh']);
}

/**
 * What points kleidi at one simulated node: its swtpm's data socket, and the node key file,
 * ring file and auth value file in `dir`. The files are explicit (not the state-directory
 * defaults) so every kleidi started with this env (the conformance runner's nodes, `kleidi
 * rotate`) uses the same node keys whatever its --state-dir.
 */
export function kleidiEnv(swtpm: Pick<Swtpm, 'port'>, dir: string): Record<string, string> {
  return {
    KLEIDI_TPM_DEVICE: `swtpm:127.0.0.1:${swtpm.port}`,
    KLEIDI_TPM_NODE_KEY_FILE: join(dir, 'tpm-node-keys.json'),
    KLEIDI_TPM_RING_FILE: join(dir, 'tpm-ring.json'),
    KLEIDI_TPM_AUTH_FILE: join(dir, 'tpm-auth'),
  };
}

/** Single-quoted for sh. */
const q = (v: string) => `'${v.replaceAll("'", "'\\''")}'`;

/**
 * Node A: a fresh swtpm (a software TPM 2.0 on loopback, its own state directory) and the first
 * KEK: `kleidi init` creates the ring and imports it into this TPM under an auth value read from
 * a 0600 file. Never a production setup: the ring file stays next to node A's keys.
 *
 * Node B, for the conformance runner's two-node scenario: a second swtpm, provisioned from
 * node A's ring with the offline flow of docs/backends/tpm.md (`kleidi tpm enroll` on B,
 * `kleidi tpm provision` where the ring is, `kleidi tpm import` on B). The rotation the runner
 * performs is `kleidi rotate` on node A followed by the same provisioning of B, so both nodes
 * hold every version and agree on the current one.
 */
export async function start(dir: string, opts: StartOptions = {}): Promise<TestServer> {
  const swtpm = await startSwtpm();
  const swtpmB = await startSwtpm().catch(async (err: unknown) => {
    await swtpm.stop();
    throw err;
  });
  const stop = async () => {
    await swtpm.stop();
    await swtpmB.stop();
  };
  const env = kleidiEnv(swtpm, dir);
  const dirB = join(dir, 'node-b');
  const { KLEIDI_TPM_RING_FILE: _noRing, ...envB } = kleidiEnv(swtpmB, dirB);
  const provisionB = join(dir, 'provision-node-b.sh');
  try {
    await mkdir(dirB, { mode: 0o700 });
    for (const file of [env.KLEIDI_TPM_AUTH_FILE, envB.KLEIDI_TPM_AUTH_FILE]) {
      await writeFile(file as string, 'kleidi-test-tpm-auth\n', { mode: 0o600 });
    }
    await kleidiInit('tpm', join(dir, 'init-state'), env, opts);
    // Run with node A's env (the ring and the auth value) and kleidi's command as arguments.
    const onB = Object.entries(envB)
      .map(([k, v]) => `${k}=${q(v)}`)
      .join(' ');
    await writeFile(
      provisionB,
      [
        'set -e',
        `cd ${q(dirB)}`,
        `env ${onB} "$@" tpm enroll > node-b.enroll.json`,
        '"$@" tpm provision --node-pub node-b.enroll.json --out node-b.bundle.json',
        `env ${onB} "$@" tpm import --bundle node-b.bundle.json`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    await run('sh', [provisionB, ...kleidiArgv(opts)], childEnv(env));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    env,
    conformance: {
      nodeBEnv: envB,
      rotateCmd: `$CONFORMANCE_KLEIDI rotate --backend "$CONFORMANCE_BACKEND" --state-dir "$CONFORMANCE_STATE_DIR" && sh ${q(provisionB)} $CONFORMANCE_KLEIDI`,
    },
    version: await version(),
    stop,
  };
}

/** "swtpm <version>" as swtpm reports it. */
async function version(): Promise<string> {
  const out = await run('swtpm', ['--version']).catch(() => '');
  // "TPM emulator version 0.7.1, Copyright …": the number without the comma.
  const number = /version\s+(\d[\w.-]*\w)/i.exec(out)?.[1];
  return number ? `swtpm ${number}` : 'swtpm ?';
}

/**
 * The same work kleidi does per call, made directly with the command layer against the same
 * swtpm (bench/raw/tpm.mjs): the current KEK unsealed once, then AES-256-GCM in Node with the
 * envelope header as associated data. kleidi(tpm) ÷ this is what kleidi's whole path (gRPC
 * included) costs on top of the unsealed KEK.
 */
export const bench: BenchComparison = {
  baseline: {
    label: 'raw-tpm-commands',
    raw: 'bench/raw/tpm.mjs',
    args: (env) => [
      ...['--tpm', env.KLEIDI_TPM_DEVICE ?? ''],
      ...['--node-keys', env.KLEIDI_TPM_NODE_KEY_FILE ?? ''],
      ...['--auth-file', env.KLEIDI_TPM_AUTH_FILE ?? ''],
    ],
  },
  // The TPM is not on the per-call path (ADR 0014), so the raw driver has no gRPC hop; the Go
  // reference plugin does the same per-call work behind the same gRPC API.
  references: [{ plugin: 'go-reference' }],
};
