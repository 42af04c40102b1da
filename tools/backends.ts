// Prints facts of the backend registry for shell scripts, and starts a backend's test server.
//
//   npm run -s backends -- names [--tested]    one backend name per line (--tested: those with a test server)
//   npm run -s backends -- field <path>        e.g. testing.contract: that field of every backend that has it
//   npm run -s backends -- prepare [<name>…]   install or build the test servers (all with one when none named)
//   npm run -s backends -- server <name>       start its test server, print the env for kleidi; Ctrl-C stops it
//   npm run -s backends -- runtime-deps        the installed runtime tree grouped by backend, as
//                                              test/reliability/runtime-deps.reviewed.json lists it (after a review)
//                                              (npm run backend:server -- <name> builds kleidi first)
//
// Run through Node's TypeScript support (package.json's "backends" script), so it needs no build.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendByName, backendNames, backends } from '../src/composition/backends/index.js';
import { loadHarness } from '../test/backends/harness.js';
import { groupRuntimeDeps, type NpmTree } from './runtime-deps.js';

const [command, ...args] = process.argv.slice(2);

function field(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

async function server(name: string | undefined): Promise<void> {
  const def = name === undefined ? undefined : backendByName(name);
  if (!def?.testing) {
    const tested = backends.filter((b) => b.testing).map((b) => b.name);
    throw new Error(`usage: server <name>, one of ${tested.join(', ')}`);
  }
  const harness = await loadHarness(def);
  await harness.prepare();
  const dir = await mkdtemp(join(tmpdir(), `kleidi-${def.name}-server-`));
  const srv = await harness.start(dir);
  const lines = [`KLEIDI_BACKEND=${def.name}`, ...Object.entries(srv.env).map(([k, v]) => `${k}=${v}`)];
  await writeFile(join(dir, 'kleidi.env'), `${lines.join('\n')}\n`, { mode: 0o600 });
  process.stdout.write(
    `${def.name} test server${srv.version ? ` (${srv.version})` : ''} is up. Test use only, never production.\n` +
      `kleidi env (${join(dir, 'kleidi.env')}; e.g. set -a; . ${join(dir, 'kleidi.env')}; set +a):\n` +
      `${lines.map((l) => `  ${l}`).join('\n')}\nCtrl-C stops it and removes ${dir}.\n`,
  );
  // Signal handlers alone do not keep Node running; the timer does, until a signal comes.
  const alive = setInterval(() => undefined, 1 << 30);
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  clearInterval(alive);
  await srv.stop();
  await rm(dir, { recursive: true, force: true });
}

switch (command) {
  case 'names':
    for (const n of backendNames(args.includes('--tested') ? backends.filter((b) => b.testing) : backends))
      console.log(n);
    break;
  case 'field':
    if (args[0] === undefined) throw new Error('usage: field <path>, e.g. testing.contract');
    for (const b of backends) {
      const v = field(b, args[0]);
      if (v !== undefined) console.log(Array.isArray(v) ? v.join(' ') : String(v));
    }
    break;
  case 'prepare':
    for (const b of backends.filter((d) => d.testing && (args.length === 0 || args.includes(d.name))))
      await (await loadHarness(b)).prepare();
    break;
  case 'server':
    await server(args[0]);
    break;
  case 'runtime-deps': {
    const ls = execFileSync('npm', ['ls', '--omit=dev', '--all', '--json'], { encoding: 'utf8', maxBuffer: 16 << 20 });
    console.log(JSON.stringify(groupRuntimeDeps(JSON.parse(ls) as NpmTree, backends), null, 2));
    break;
  }
  default:
    throw new Error(
      `unknown command ${command ?? '(none)'}: names [--tested] | field <path> | prepare [<name>…] | server <name> | runtime-deps`,
    );
}
