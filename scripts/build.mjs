#!/usr/bin/env node
// Builds what kleidi ships (docs/adr/0015-single-file-bundle.md):
//
//   1. tsc compiles src/ into <out>/ (one .js per module: what scripts and benchmarks import,
//      e.g. scripts/check-deploy-config.mjs and bench/node-floor);
//   2. esbuild bundles <out>/main.js and every library it loads into one file, <out>/main.js,
//      plus <out>/chunks/ for what is imported lazily (each backend's adapter, the CLI's client
//      stack). `node <out>/main.js` (the image, the static pod, the systemd unit, every test
//      that starts kleidi) runs the bundle.
//
// Left outside the bundle, loaded from node_modules when their backend is opened: the libraries
// the backend registry declares (cloud SDKs, node-vault, graphene-pk11 and its native addon
// pkcs11js): some read files next to their own code at run time, and none is on the path of the
// backends that do not use them.
//
//   node scripts/build.mjs [--out-dir <dir in the repository>]      (npm run build: dist/)
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const REPO = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const outIdx = args.indexOf('--out-dir');
const out = resolve(REPO, outIdx >= 0 ? args[outIdx + 1] : 'dist');
const log = (msg) => process.stderr.write(`build: ${msg}\n`);
// The bundle loads the libraries it leaves outside from node_modules, as does this script the
// registry tsc compiles: both resolve them upwards from <out>.
if (relative(REPO, out).startsWith('..')) {
  log(`--out-dir must be inside ${REPO}, where node_modules is`);
  process.exit(2);
}

const started = performance.now();
const tsc = spawnSync(
  process.execPath,
  [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(REPO, 'tsconfig.build.json'), '--outDir', out],
  { cwd: REPO, stdio: 'inherit' },
);
if (tsc.status !== 0) {
  log(`tsc failed (${tsc.status ?? tsc.signal})`);
  process.exit(tsc.status ?? 1);
}

// The registry just compiled names each backend's libraries (docs/adr/0006-backend-registry.md).
const { backends } = await import(pathToFileURL(join(out, 'composition/backends/index.js')).href);
const external = [
  ...new Set(backends.flatMap((b) => b.libraries)),
  // grpc-js requires it only to serve channelz, which kleidi never enables; it reads .proto files
  // from its own directory.
  '@grpc/proto-loader',
];

const chunks = join(out, 'chunks');
const result = await build({
  entryPoints: { main: join(out, 'main.js') },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  outdir: out,
  chunkNames: 'chunks/[name]-[hash]',
  // Written below: the entry point is also esbuild's input, which it will not overwrite.
  write: false,
  external,
  // tsc's source maps are read as input, so the bundle's map points at src/*.ts.
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'linked',
  // CommonJS libraries in an ES module bundle: their require() of Node's own modules needs a real
  // require (esbuild's shim throws), and each output file is a module of its own.
  banner: {
    js: "import { createRequire as __kleidiCreateRequire } from 'node:module';\nconst require = __kleidiCreateRequire(import.meta.url);",
  },
  // Without comments the output is Latin-1 (esbuild escapes other characters in literals): V8
  // keeps a Latin-1 source in one byte a character and any other in two, and a kept comment with
  // one dash or arrow doubled the 2.4 MB the process holds for Function.prototype.toString.
  // Identifiers stay as written, so stack traces still name kleidi's functions (the source map
  // gives their lines in src/).
  minifyWhitespace: true,
  logLevel: 'warning',
  metafile: true,
});
for (const file of result.outputFiles) {
  if (file.path.endsWith('.js') && /[\u0100-\uffff]/.test(file.text)) {
    log(`${relative(REPO, file.path)} has characters beyond Latin-1: V8 would hold it in two bytes a character`);
    process.exit(1);
  }
}
// Each file is written whole and renamed into place, and chunks (named by their content's hash)
// are removed only once nothing written refers to them, so a kleidi started from <out>/ while
// another build runs (a test run beside a benchmark) never loads half a file or misses a chunk.
const written = new Set();
for (const file of result.outputFiles) {
  await mkdir(dirname(file.path), { recursive: true });
  const tmp = `${file.path}.${process.pid}.tmp`;
  await writeFile(tmp, file.contents);
  await rename(tmp, file.path);
  written.add(file.path);
}
for (const name of await readdir(chunks)) {
  if (!written.has(join(chunks, name))) await rm(join(chunks, name), { force: true });
}
const size = (f) => result.metafile.outputs[relative(REPO, f)]?.bytes ?? 0;
const mainFile = join(out, 'main.js');
const chunkFiles = (await readdir(chunks)).filter((f) => f.endsWith('.js'));
log(
  `${relative(REPO, out)}/: tsc and bundle in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
    `main.js ${(size(mainFile) / 1024).toFixed(0)} KiB, ${chunkFiles.length} chunks`,
);
