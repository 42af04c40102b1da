// The init container's one root step, run by the image's own Node.js because the runtime image has no
// shell (deploy/Dockerfile): gives kleidi's uid the host directories it uses and copies Secret-volume
// files into 0600 files that uid owns (a Secret volume cannot give a file to a uid, only to a group).
// It needs CAP_CHOWN and CAP_FOWNER, nothing else, and never follows a symbolic link it changes:
// links inside the state directory are re-owned themselves, their targets are left alone.
//
//   node prepare-host-dirs.mjs --owner <uid>:<gid> [--socket-dir <dir>] [--state-dir <dir>]
//        [--copy <file> <dest-file>]... [--copy-dir <dir> <dest-dir>]...
//
// --socket-dir  owner uid:gid, mode 0750 (the apiserver reaches the socket as root)
// --state-dir   owner uid:gid for the directory and everything in it, the directory mode 0700
// --copy        <file> (links followed: Secret volumes are links) to <dest-file>, mode 0600, owner uid:gid
// --copy-dir    every regular file of <dir> whose name does not start with "." (a Secret volume's
//               ..data entries) into <dest-dir>, as --copy does
import {
  chmodSync,
  closeSync,
  constants,
  fchownSync,
  fsyncSync,
  lchownSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

function parse(argv) {
  const opts = { copies: [], dirCopies: [] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--owner') {
      const m = /^(\d+):(\d+)$/.exec(value());
      if (!m) throw new Error('--owner must be <uid>:<gid> (numbers)');
      opts.uid = Number(m[1]);
      opts.gid = Number(m[2]);
    } else if (flag === '--socket-dir') opts.socketDir = value();
    else if (flag === '--state-dir') opts.stateDir = value();
    else if (flag === '--copy') opts.copies.push([value(), value()]);
    else if (flag === '--copy-dir') opts.dirCopies.push([value(), value()]);
    else throw new Error(`unknown argument ${flag}`);
  }
  if (opts.uid === undefined) throw new Error('--owner <uid>:<gid> is required');
  return opts;
}

/** A directory itself, not a link to one: chmod would follow the link. */
function directory(path) {
  if (!lstatSync(path).isDirectory()) throw new Error(`${path} is not a directory (a symbolic link is refused)`);
  return path;
}

// Children first, the directory last: with CAP_CHOWN and CAP_FOWNER but not CAP_DAC_READ_SEARCH, root
// cannot list a 0700 directory it does not own, which is what the state directory is from the second
// start on (and what the static pod's header tells operators to create). So a directory is first
// given to root (only root can then enter it, as before), listed, and given to the owner at the end.
function chownTree(path, uid, gid) {
  const st = lstatSync(path);
  if (st.isDirectory()) {
    lchownSync(path, 0, 0);
    for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
  }
  lchownSync(path, uid, gid);
}

function copySecret(src, dest, uid, gid) {
  if (!statSync(src).isFile()) throw new Error(`${src} is not a regular file`);
  const bytes = readFileSync(src);
  const tmp = `${dest}.tmp-${process.pid}`;
  // O_EXCL|O_NOFOLLOW: never write through a file or link someone left at the temporary name.
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, bytes);
    fchownSync(fd, uid, gid);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, dest);
  bytes.fill(0);
  console.log(`prepare-host-dirs: ${dest} (0600, ${uid}:${gid})`);
}

try {
  const o = parse(process.argv.slice(2));
  if (o.socketDir) {
    lchownSync(directory(o.socketDir), o.uid, o.gid);
    chmodSync(o.socketDir, 0o750);
    console.log(`prepare-host-dirs: ${o.socketDir} (0750, ${o.uid}:${o.gid})`);
  }
  if (o.stateDir) {
    chownTree(directory(o.stateDir), o.uid, o.gid);
    chmodSync(o.stateDir, 0o700);
    console.log(`prepare-host-dirs: ${o.stateDir} and its contents (0700, ${o.uid}:${o.gid})`);
  }
  for (const [src, dest] of o.copies) copySecret(src, dest, o.uid, o.gid);
  for (const [dir, destDir] of o.dirCopies) {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.') || !statSync(join(dir, name)).isFile()) continue;
      copySecret(join(dir, name), join(destDir, name), o.uid, o.gid);
    }
  }
} catch (err) {
  console.error(`prepare-host-dirs: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
