// `npm ci` on the pinned Node.js (docs/adr/0010-node-binary-pin.md, "Installing on the pinned Node.js").
//
// npm checks every package's `engines` against the Node.js that runs npm itself (`process.version`; npm 9
// removed the `node-version` setting that could say otherwise). On a machine whose system Node is older
// than the pin, a plain `npm ci` therefore warns EBADENGINE for kleidi and every dependency that needs
// Node >= 22, although every npm script then runs on the pinned Node 24. This script:
//   1. takes the platform package node-<os>-<cpu> at the version of tools/node-toolchain, checks the
//      tarball's sha512 against package-lock.json's `integrity` and its bin/node against
//      tools/node-toolchain/SHA256SUMS (the same two pins `npm ci` and scripts/check-node-pin.mjs use),
//      and keeps that binary in ${XDG_CACHE_HOME:-~/.cache}/kleidi/node/ (checked again on every run);
//   2. runs `npm ci` (extra arguments passed on) with that binary first on PATH, so npm, and the install
//      scripts it runs, run on the pinned Node, and an EBADENGINE warning means a package really does not
//      support the Node kleidi runs on;
//   3. runs scripts/check-node-pin.mjs on the installed binary, since npm skips an optional dependency
//      whose integrity check fails with exit status 0.
// A platform without a pinned package (tools/node-toolchain lists linux-x64 and linux-arm64) gets a plain
// `npm ci` on the system Node, with a note saying so: its engine warnings are then real.
// Plain JavaScript on purpose: it runs on whatever Node.js the machine has, before anything is installed.
//   node scripts/bootstrap.mjs [npm ci arguments]      (npm run bootstrap)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const npmArgs = process.argv.slice(2);
const say = (line) => console.error(`bootstrap: ${line}`);
const fail = (line) => {
  say(line);
  process.exit(1);
};
const hash = (algorithm, file, encoding) => createHash(algorithm).update(readFileSync(file)).digest(encoding);

function run(command, args, env) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  if (r.error) fail(`${command}: ${r.error.message}`);
  return r.status ?? 1;
}

const toolchain = JSON.parse(readFileSync(join(root, 'tools/node-toolchain/package.json'), 'utf8'));
const version = toolchain.version;
const platform = `${process.platform}-${process.arch}`;
const pkg = `node-${platform}`;

if (!Object.hasOwn(toolchain.optionalDependencies ?? {}, pkg)) {
  say(`no pinned Node.js for ${platform} in tools/node-toolchain: npm ci runs on ${process.version}, and its`);
  say('engine warnings are about that Node; `npm run check` will fail until the platform is pinned');
  process.exit(run('npm', ['ci', ...npmArgs], process.env));
}

const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
const entry = lock.packages?.[`node_modules/${pkg}`];
if (entry?.version !== version || !/^sha512-[A-Za-z0-9+/]{86}==$/.test(entry.integrity ?? '')) {
  fail(`package-lock.json does not pin node_modules/${pkg} at ${version} by a sha512 integrity`);
}
const sumName = `node-v${version}-${platform}/bin/node`;
const wantSha256 = readFileSync(join(root, 'tools/node-toolchain/SHA256SUMS'), 'utf8')
  .split('\n')
  .map((l) => l.trim().split(/\s+\*?/))
  .find(([, file]) => file === sumName)?.[0];
if (!wantSha256) fail(`tools/node-toolchain/SHA256SUMS has no line for ${sumName}`);

const cacheRoot = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kleidi/node');
const binary = join(cacheRoot, sumName);

if (existsSync(binary) && hash('sha256', binary, 'hex') !== wantSha256) {
  say(`${binary} does not match SHA256SUMS: fetching it again`);
  rmSync(binary);
}
if (!existsSync(binary)) {
  const work = mkdtempSync(join(tmpdir(), 'kleidi-bootstrap-'));
  // On every exit, fail() included: process.exit() skips `finally` blocks, not 'exit' listeners.
  const cleanUp = () => rmSync(work, { recursive: true, force: true });
  process.on('exit', cleanUp);
  // npm pack fetches through npm's cache and registry settings, exactly as npm ci would.
  const packed = spawnSync('npm', ['pack', `${pkg}@${version}`, '--pack-destination', work, '--loglevel=warn'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (packed.error || packed.status !== 0) fail(`npm pack ${pkg}@${version} failed`);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tarball) fail(`npm pack ${pkg}@${version} left no tarball`);
  const got = `sha512-${hash('sha512', join(work, tarball), 'base64')}`;
  if (got !== entry.integrity) fail(`${pkg}@${version}: tarball ${got}, package-lock.json pins ${entry.integrity}`);
  if (run('tar', ['-xzf', join(work, tarball), '-C', work, 'package/bin/node'], process.env) !== 0) {
    fail(`${tarball} holds no package/bin/node`);
  }
  const extracted = join(work, 'package/bin/node');
  const gotSha256 = hash('sha256', extracted, 'hex');
  if (gotSha256 !== wantSha256) fail(`${tarball}: bin/node SHA-256 ${gotSha256}, SHA256SUMS pins ${wantSha256}`);
  // Copy beside the target, then rename: a concurrent or interrupted run never sees half a binary.
  mkdirSync(dirname(binary), { recursive: true });
  const partial = `${binary}.${process.pid}.partial`;
  copyFileSync(extracted, partial);
  chmodSync(partial, 0o755);
  renameSync(partial, binary);
  cleanUp();
}
say(`npm ci on ${binary} (SHA-256 as pinned)`);

const env = { ...process.env, PATH: `${dirname(binary)}${delimiter}${process.env.PATH ?? ''}` };
const status = run('npm', ['ci', ...npmArgs], env);
if (status !== 0) process.exit(status);
// On the installed binary when there is one; otherwise the check itself says that it is missing.
const installed = join(root, 'node_modules/.bin/node');
process.exit(run(existsSync(installed) ? installed : binary, [join(root, 'scripts/check-node-pin.mjs')], env));
