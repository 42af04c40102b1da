import { chmodSync, chownSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
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
export async function listenOnSocket(e: Endpoint, opts: SocketOptions, onSocket: (s: Socket) => void): Promise<Server> {
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
    chmodSync(e.path, opts.mode);
    if (opts.gid !== undefined) chownSync(e.path, process.getuid?.() ?? 0, opts.gid);
  }
  return server;
}

/**
 * Checks, before any backend work, that the socket can be taken: so a start
 * that is refused because another kleidi serves there changes nothing (it
 * does not, e.g., create a keyring first).
 */
export async function assertSocketAvailable(e: Endpoint): Promise<void> {
  if (e.kind !== 'path') return;
  let st;
  try {
    st = lstatSync(e.path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${e.path} exists and is not a socket; refusing to replace it`);
  if (await answers(e.path)) {
    throw new Error(`socket ${e.path} is in use by a running process; stop it or choose another --socket`);
  }
}

async function clearStaleSocket(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  let st;
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
