import { chmodSync, chownSync, constants, lstatSync, mkdirSync, type Stats, unlinkSync } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { listenTarget, type Endpoint } from './endpoint.js';

export interface SocketOptions {
  /** File mode of the socket; 0600 by default so only kleidi's user (and root) can call it. */
  readonly mode: number;
  /** Numeric gid to give the socket, so a kube-apiserver running as another user can connect. */
  readonly gid?: number;
}

/**
 * Opens the Unix socket kube-apiserver dials. A leftover socket file from a
 * crashed run is removed only when nothing answers on it; a live owner makes
 * us refuse to start, so two plugins never steal each other's socket.
 */
export async function listenOnSocket(
  e: Endpoint,
  opts: SocketOptions | undefined,
  onSocket: (s: Socket) => void,
): Promise<Server> {
  if (e.kind === 'path') await clearStaleSocket(e.path);
  const server = createServer({ pauseOnConnect: false }, onSocket);
  // SECURITY: umask so the socket is never briefly wider than requested, then chmod to the exact mode.
  const previous = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenTarget(e), () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  if (e.kind === 'path') {
    if (opts === undefined) throw new Error(`socket ${e.path} needs a mode`);
    chmodSync(e.path, opts.mode);
    if (opts.gid !== undefined) chownSync(e.path, process.getuid?.() ?? 0, opts.gid);
  }
  return server;
}

/**
 * A Unix socket address holds at most 108 bytes of path including the
 * terminating NUL (sun_path, https://man7.org/linux/man-pages/man7/unix.7.html);
 * an abstract name spends one of them on its leading NUL.
 */
const MAX_SOCKET_ADDRESS_BYTES = 107;

/**
 * Checks, before any backend work, that the socket can be taken: so a start
 * that is refused (a path too long, a directory that cannot be created,
 * another kleidi serving there) changes nothing (it does not, e.g., create
 * a keyring first).
 */
export async function assertSocketAvailable(e: Endpoint): Promise<void> {
  const bytes = Buffer.byteLength(listenTarget(e));
  if (bytes > MAX_SOCKET_ADDRESS_BYTES) {
    const what = e.kind === 'path' ? `socket path ${e.path}` : `abstract socket name @${e.name}`;
    throw new Error(
      `${what} is longer than the ${MAX_SOCKET_ADDRESS_BYTES} bytes a Unix socket address holds (${bytes}); choose a shorter --socket`,
    );
  }
  if (e.kind !== 'path') return;
  let st: Stats;
  try {
    st = lstatSync(e.path);
  } catch {
    await assertCreatable(e.path);
    return;
  }
  if (!st.isSocket()) throw new Error(`${e.path} exists and is not a socket; refusing to replace it`);
  if (await answers(e.path)) {
    throw new Error(`socket ${e.path} is in use by a running process; stop it or choose another --socket`);
  }
}

/**
 * The socket's directory exists and kleidi may create a file in it, or the
 * nearest existing ancestor lets kleidi create the missing directories.
 */
async function assertCreatable(path: string): Promise<void> {
  let dir = dirname(path);
  for (;;) {
    const st = await stat(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : err));
    if (st instanceof Error) throw new Error(`cannot create the socket ${path}: ${dir}: ${st.code ?? st.message}`);
    if (st !== undefined) {
      if (!st.isDirectory()) throw new Error(`cannot create the socket ${path}: ${dir} is not a directory`);
      break;
    }
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
  await access(dir, constants.W_OK | constants.X_OK).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot create the socket ${path}: ${dir} is not writable by kleidi (${err.code ?? err.message})`);
  });
}

async function clearStaleSocket(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) {
    throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  }
  if (await answers(path)) {
    throw new Error(`socket ${path} is in use by a running process; stop it or choose another --socket`);
  }
  unlinkSync(path);
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (live: boolean) => {
      s.destroy();
      resolve(live);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1_000, () => done(false));
  });
}

/** Removes our socket file on shutdown, unless another process has replaced it since. */
export function removeSocketFile(e: Endpoint, inode: number | undefined): void {
  if (e.kind !== 'path') return;
  try {
    const st = lstatSync(e.path);
    if (st.isSocket() && (inode === undefined || st.ino === inode)) unlinkSync(e.path);
  } catch {
    // already gone
  }
}

export function socketInode(e: Endpoint): number | undefined {
  return e.kind === 'path' ? lstatSync(e.path).ino : undefined;
}
