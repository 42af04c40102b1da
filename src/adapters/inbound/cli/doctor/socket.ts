import { execFile } from 'node:child_process';
import { lstat, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConnectError } from '@connectrpc/connect';
import type { Endpoint } from '../../grpc/endpoint.js';
import { type DoctorCheck, fail, pass, skip } from './report.js';

export interface SocketExpectation {
  readonly endpoint: Endpoint;
  /** kleidi's socketMode setting. */
  readonly mode: number;
  /** kleidi's socketGroup setting, a name or gid. */
  readonly group?: number | string;
}

const octal = (m: number) => `0${(m & 0o777).toString(8).padStart(3, '0')}`;

/**
 * The socket file: it exists, is a socket, has the configured mode and group, and is owned by the
 * owner of its directory (the supplied manifests and unit create that directory for kleidi's user,
 * and kleidi creates the socket in it as that user).
 */
export async function checkSocketFile(want: SocketExpectation): Promise<DoctorCheck[]> {
  if (want.endpoint.kind === 'abstract') {
    return [
      skip('socket.file', `@${want.endpoint.name} is an abstract socket: it has no file, owner or mode to check`),
    ];
  }
  const path = want.endpoint.path;
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return [
      fail(
        'socket.exists',
        `socket ${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be examined (${code})`}`,
        code === 'ENOENT'
          ? 'start kleidi (`kleidi serve`, its static pod or systemd unit), or give doctor the same --socket/--config as the running kleidi'
          : 'run kleidi doctor as root, or as the user kleidi runs as',
      ),
    ];
  }
  const out: DoctorCheck[] = [pass('socket.exists', `socket ${path} exists`)];
  if (!st.isSocket()) {
    out.push(
      fail(
        'socket.type',
        `${path} is not a socket`,
        `remove ${path} (kleidi refuses to replace it) and restart kleidi, or choose another --socket`,
      ),
    );
    return out;
  }
  const problems: string[] = [];
  const fixes: string[] = [];
  if ((st.mode & 0o777) !== want.mode) {
    problems.push(`mode ${octal(st.mode)}, not the configured ${octal(want.mode)}`);
    fixes.push(
      `restart kleidi (it applies socketMode ${octal(want.mode)}), or give doctor the running kleidi's --config`,
    );
  }
  const dirOwner = await stat(dirname(path)).then(
    (d) => d.uid,
    () => undefined,
  );
  if (dirOwner !== undefined && st.uid !== dirOwner) {
    problems.push(`owned by uid ${st.uid}, not by uid ${dirOwner} who owns ${dirname(path)}`);
    fixes.push(`run kleidi as uid ${dirOwner}, or chown ${st.uid} ${dirname(path)}`);
  }
  if (want.group !== undefined) {
    const gid = typeof want.group === 'number' ? want.group : await gidOf(want.group);
    if (gid === undefined) {
      problems.push(`group "${want.group}" is unknown on this host`);
      fixes.push(`create group ${want.group} or fix socketGroup`);
    } else if (st.gid !== gid) {
      problems.push(`group ${st.gid}, not the configured ${want.group} (${gid})`);
      fixes.push('restart kleidi, which applies socketGroup');
    }
  }
  out.push(
    problems.length === 0
      ? pass(
          'socket.permissions',
          `socket ${path} has mode ${octal(st.mode)}, uid ${st.uid}, gid ${st.gid} as configured`,
        )
      : fail('socket.permissions', `socket ${path}: ${problems.join('; ')}`, fixes.join('; ')),
  );
  return out;
}

/** Calls Status on the socket with the CLI's own client; healthz must be "ok". */
export async function checkStatus(socket: string, timeoutMs: number): Promise<DoctorCheck> {
  // Loaded here, as in diagnostics.ts: the client stack is only for the commands that call kleidi.
  const { kmsClient } = await import('../kms-client.js');
  const { client } = kmsClient(socket);
  try {
    const s = await client.status({}, { timeoutMs });
    if (s.healthz === 'ok') {
      return pass(
        'socket.status',
        `kleidi answers Status on ${socket}: healthz ok, version ${s.version}, key_id ${s.keyId}`,
      );
    }
    return fail(
      'socket.status',
      `kleidi answers Status on ${socket} but healthz is "${s.healthz}"`,
      'fix what healthz names (docs/operations.md, "What healthz says"); the backend checks below may show it',
    );
  } catch (err) {
    return fail(
      'socket.status',
      `Status on ${socket} failed: ${ConnectError.from(err).message}`,
      'make sure kleidi is running and serving this socket (`kleidi status --socket …` must exit 0)',
    );
  }
}

/** A group name's gid through the system's name service (`getent group`), as kleidi resolves socketGroup. */
function gidOf(name: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile('getent', ['group', name], { timeout: 5_000 }, (err, stdout) => {
      const gid = err ? undefined : Number(stdout.split(':')[2]);
      resolve(gid !== undefined && Number.isInteger(gid) ? gid : undefined);
    });
  });
}
