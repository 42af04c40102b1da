// Verifies the Node.js binary every npm script, test and build runs on (docs/adr/0010-node-binary-pin.md):
//   1. package-lock.json pins the platform package (node-<os>-<cpu>) of tools/node-toolchain by a sha512
//      `integrity`, and holds no `node` wrapper package (its install script fetched the binary outside the
//      lockfile);
//   2. the installed binary, node_modules/node-<os>-<cpu>/bin/node, has the SHA-256 recorded in
//      tools/node-toolchain/SHA256SUMS (lines named as in the official tarball, node-v<version>-<os>-<cpu>/bin/node,
//      so a release job can `sha256sum -c` them against the tarball it verified with nodejs.org's SHASUMS256.txt);
//   3. the node running this script is that binary.
// The platform packages are optional dependencies (npm installs the one that matches the machine), and npm
// SKIPS an optional dependency whose tarball fails its integrity check, with a warning and exit status 0:
// then `node` in npm scripts silently becomes whatever node is on PATH. Step 3 turns that into a failure.
// Plain JavaScript on purpose: it must run, and explain itself, on any Node.js the PATH may hold.
//   node scripts/check-node-pin.mjs [--root <dir>]
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join, relative } from 'node:path';

const args = process.argv.slice(2);
const rootAt = args.indexOf('--root');
const root = rootAt >= 0 ? args[rootAt + 1] : new URL('..', import.meta.url).pathname;
const problems = [];

if (!existsSync(join(root, 'tools/node-toolchain/package.json'))) {
  console.error(
    'check-node-pin: no tools/node-toolchain/package.json: the Node.js binary is not pinned by the lockfile',
  );
  process.exit(1);
}
const toolchain = JSON.parse(readFileSync(join(root, 'tools/node-toolchain/package.json'), 'utf8'));
const version = toolchain.version;
const platformPackages = Object.entries(toolchain.optionalDependencies ?? {});
for (const [name, spec] of platformPackages) {
  if (spec !== version) problems.push(`tools/node-toolchain: ${name} is "${spec}", not exactly ${version}`);
}

const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
for (const [path, entry] of Object.entries(lock.packages ?? {})) {
  if (path === 'node_modules/node' || path.endsWith('/node_modules/node')) {
    problems.push(
      `package-lock.json: ${path} is the "node" wrapper whose install script downloads the binary unpinned`,
    );
  }
  if (entry.hasInstallScript && /^node(-bin)?-[a-z]+-[a-z0-9]+$/.test(path.split('node_modules/').pop() ?? '')) {
    problems.push(`package-lock.json: ${path} runs an install script`);
  }
}
for (const [name] of platformPackages) {
  const entry = lock.packages?.[`node_modules/${name}`];
  if (!entry) problems.push(`package-lock.json: no entry for node_modules/${name}`);
  else {
    if (entry.version !== version) problems.push(`package-lock.json: ${name} is ${entry.version}, not ${version}`);
    if (!/^sha512-[A-Za-z0-9+/]{86}==$/.test(entry.integrity ?? ''))
      problems.push(`package-lock.json: ${name} has no sha512 integrity`);
  }
}

const platform = `${process.platform}-${process.arch}`;
const pkg = `node-${platform}`;
const sums = new Map(
  readFileSync(join(root, 'tools/node-toolchain/SHA256SUMS'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [hash, file] = l.split(/\s+\*?/);
      return [file, hash];
    }),
);
const sumName = `node-v${version}-${platform}/bin/node`;
const want = sums.get(sumName);
const installed = join(root, 'node_modules', pkg, 'bin/node');
if (!platformPackages.some(([name]) => name === pkg)) {
  problems.push(`no pinned Node.js for ${platform}: add ${pkg} to tools/node-toolchain and its SHA-256 to SHA256SUMS`);
} else if (!want) {
  problems.push(`tools/node-toolchain/SHA256SUMS: no line for ${sumName}`);
} else if (!existsSync(installed)) {
  problems.push(
    `${relative(root, installed)} is missing: npm skips, with exit status 0, an optional dependency whose tarball fails its integrity check (npm ci --loglevel=verbose shows "reify failed optional dependency")`,
  );
} else {
  const got = createHash('sha256').update(readFileSync(installed)).digest('hex');
  if (got !== want) problems.push(`${relative(root, installed)}: SHA-256 ${got}, pinned ${want} (${sumName})`);
  if (realpathSync(process.execPath) !== realpathSync(installed) || process.version !== `v${version}`) {
    problems.push(
      `this script runs on ${process.execPath} (${process.version}), not the pinned ${relative(root, installed)}: run it through npm (npm run check)`,
    );
  }
}

if (problems.length > 0) {
  for (const p of problems) console.error(`check-node-pin: ${p}`);
  process.exit(1);
}
console.log(`check-node-pin: node ${process.version} (${pkg}) matches package-lock.json and SHA256SUMS`);
