import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startKleidi, tempDir } from '../support/kleidi-process.js';

/**
 * The two faces of kleidi's output on the real process: under a
 * pseudo-terminal (util-linux `script`, which runs the command on a new pty
 * and copies what it writes to our pipe) people get text and tables; on a
 * pipe, as in a pod or under systemd, the JSON kleidi always printed.
 */

const KLEIDI_MAIN = resolve(import.meta.dirname, '../../dist/main.js');
const ESC = '\x1b';
const ANSI = new RegExp(`${ESC}\\[[0-9;]*m`, 'g');
/** The default 3 s deadline mirrors kube-apiserver's; these tests check output, so they wait longer on a loaded machine. */
const PATIENT = ['--timeout', '20s'];
const BASE_ENV = { ...process.env, KLEIDI_HTTP_ADDRESS: '127.0.0.1:0', NO_COLOR: '' };
const sh = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** The processes below `pid` (children, grandchildren…), from the ppid field of /proc/<pid>/stat (proc(5)). */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
      parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const below: number[] = [];
  const walk = (p: number): void => {
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        below.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return below;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `node dist/main.js args…` on a pseudo-terminal, as an operator runs it. */
function onTerminal(args: string[], env: Record<string, string> = {}) {
  // `exec`: script(1) runs the command with $SHELL -c, or /bin/sh when SHELL is unset (as on the CI
  // runner). Debian's dash then stays as kleidi's parent in the terminal's foreground process group,
  // dies of the Ctrl-C meant for kleidi, and script reports its 130 (128 + SIGINT) instead of
  // kleidi's exit code. exec makes kleidi the shell's own process, whichever shell runs it.
  const cmd = `exec ${[process.execPath, KLEIDI_MAIN, ...args].map(sh).join(' ')}`;
  const proc = spawn('script', ['-qec', cmd, '/dev/null'], {
    env: { ...BASE_ENV, ...env },
    stdio: 'pipe',
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    exited,
    /** What the terminal showed, with the pty's CRLF line ends as LF. */
    output: () => out.replaceAll('\r\n', '\n'),
    /**
     * Ctrl-C as an operator types it: the pty's line discipline turns it into SIGINT for the
     * foreground process group (termios(3), ISIG). Should the line discipline deliver nothing (a
     * sandbox whose pty session has no controlling terminal), the test sends SIGINT itself after a
     * while, as the terminal would have, and says so: what is under test is kleidi's answer to
     * SIGINT, not the kernel's tty layer.
     */
    interrupt: async (): Promise<void> => {
      proc.stdin.write('\x03');
      for (const end = Date.now() + 15_000; Date.now() < end; await sleep(50)) {
        if (out.includes('signal received')) return;
      }
      console.warn('terminal-faces: Ctrl-C on the pty raised no SIGINT here; sending SIGINT to kleidi directly');
      for (const pid of descendants(proc.pid ?? -1)) process.kill(pid, 'SIGINT');
    },
    /** Ends the terminal; whatever still runs on it (a test that failed half-way) is killed. */
    close: () => {
      proc.stdin.end();
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
      for (const pid of [...descendants(proc.pid), proc.pid]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
}

/** `node dist/main.js args…` on pipes: stdout alone, as a script or an exec probe reads it. */
async function onPipe(args: string[], env: Record<string, string> = {}) {
  const proc = spawn(process.execPath, [KLEIDI_MAIN, ...args], { env: { ...BASE_ENV, ...env }, stdio: 'pipe' });
  let stdout = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stdin.end();
  const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  return { code, stdout };
}

/**
 * Waits for `ok`. Generous, like startKleidi's readiness wait: these tests check what is shown, not
 * how fast, and a CI machine may be loaded. On a timeout the error names what was awaited and quotes
 * the last lines shown first, since a failure's head is what the run's summary quotes.
 */
async function until(ok: () => boolean, awaited: string, what: () => string, ms = 45_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) {
      const lines = what().trimEnd().split('\n');
      throw new Error(`timed out waiting for ${awaited}; the last lines shown:\n${lines.slice(-8).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The fields of the `kleidi is ready` line before text output existed: JSON consumers rely on them. */
const READY_FIELDS = [
  'level',
  'time',
  'app',
  'endpoint',
  'http',
  'backend',
  'keyId',
  'stateDir',
  'encryptionConfiguration',
  'msg',
];

describe('on a terminal: text logs and a copyable EncryptionConfiguration', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(async () => {
    await tmp.cleanup();
  });

  it('serve logs text with colours, the EncryptionConfiguration as a YAML block, and stops on Ctrl-C', async () => {
    const socket = join(tmp.dir, 'kms.sock');
    const run = onTerminal(['serve', '--socket', socket, '--state-dir', join(tmp.dir, 'state-text')]);
    let shown = '';
    try {
      await until(() => run.output().includes('\n      - identity: {}\n'), 'the ready block', run.output);
      shown = run.output();
      await run.interrupt(); // Ctrl-C: the terminal sends SIGINT, as for an operator
      await until(() => run.output().includes('stopped'), 'the stopped line after Ctrl-C', run.output);
      expect(await run.exited).toBe(0);
    } finally {
      run.close();
    }
    const out = run.output();
    expect(out).toContain(`${ESC}[32mINFO ${ESC}[0m`);
    const text = out.replace(ANSI, '');
    expect(text).not.toMatch(/^\{/m); // no JSON line
    expect(text).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z INFO {2}kleidi is ready; .* endpoint=unix:\/\/\//m);
    // The terminal echoes the Ctrl-C as ^C before the next line.
    expect(text).toMatch(/^(\^C)?\d\d:\d\d:\d\d\.\d{3}Z INFO {2}signal received signal=SIGINT$/m);
    // What an operator selects and pastes: from the comment line to the blank line after the block.
    const ready = shown.replace(ANSI, '');
    const start = ready.indexOf('# encryptionConfiguration:');
    expect(start).toBeGreaterThan(0);
    const block = ready.slice(start, ready.indexOf('\n\n', start));
    expect(parse(block)).toEqual({
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'EncryptionConfiguration',
      resources: [
        {
          resources: ['secrets', 'configmaps'],
          providers: [
            { kms: { apiVersion: 'v2', name: 'kleidi', endpoint: `unix://${socket}`, timeout: '3s' } },
            { identity: {} },
          ],
        },
      ],
    });
  }, 120_000);

  it('serve --log-format json on a terminal logs the JSON lines', async () => {
    const run = onTerminal(
      [
        'serve',
        '--log-format',
        'json',
        '--socket',
        join(tmp.dir, 'j.sock'),
        '--state-dir',
        join(tmp.dir, 'state-json'),
      ],
      {
        KLEIDI_LOG_FORMAT: 'text', // the flag wins over the environment
      },
    );
    try {
      await until(() => run.output().includes('kleidi is ready'), 'the ready line', run.output);
      await run.interrupt();
      expect(await run.exited).toBe(0);
    } finally {
      run.close();
    }
    // Without the flag this run would be text: the flag is what made it JSON (^C is the terminal's echo).
    const lines = run.output().replace('^C', '').trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(3);
    for (const l of lines) expect(JSON.parse(l), l).toHaveProperty('level');
  }, 120_000);

  it('status, keys and version print tables; --output json prints what a pipe gets', async () => {
    const k = await startKleidi(tmp.dir, [], {});
    try {
      const status = onTerminal(['status', '--socket', k.socket, ...PATIENT]);
      expect(await status.exited).toBe(0);
      expect(status.output().replace(ANSI, '')).toMatch(
        /^healthz {2}ok\nkeyId {4}local:v1:[0-9a-f]+\nversion {2}v2\n$/,
      );
      expect(status.output()).toContain(`${ESC}[32mok${ESC}[0m`);

      const keys = onTerminal(['keys', '--state-dir', k.stateDir]);
      expect(await keys.exited).toBe(0);
      expect(keys.output().replace(ANSI, '')).toMatch(
        /^backend local\nCURRENT {2}VERSION {2}KEY ID +CREATED\n\* {8}1 {8}local:v1:[0-9a-f]+ {2}\d{4}-\d\d-\d\dT[\d:.]+Z\n$/,
      );

      const version = onTerminal(['version']);
      expect(await version.exited).toBe(0);
      expect(version.output().replace(ANSI, '')).toMatch(/^kleidi {2}\S+\nnode {4}v\d+\.\d+\.\d+\nkmsApi {2}v2\n$/);

      for (const args of [
        ['status', '--socket', k.socket, ...PATIENT],
        ['keys', '--state-dir', k.stateDir],
        ['version'],
      ]) {
        const tty = onTerminal([...args, '--output', 'json']);
        expect(await tty.exited).toBe(0);
        const pipe = await onPipe(args);
        expect(pipe.code).toBe(0);
        expect(tty.output(), args[0]).toBe(pipe.stdout);
      }
    } finally {
      await k.stop();
    }
    // Nine CLI processes, each a Node start: ~8 s here unloaded, over 30 s on a machine at load 19.
  }, 120_000);
});

describe('on a pipe (a pod, systemd): JSON exactly as before', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(async () => {
    await tmp.cleanup();
  });

  it('serve logs one JSON object a line, the ready line with the same fields as before', async () => {
    const k = await startKleidi(tmp.dir);
    expect(await k.stop()).toBe(0);
    const lines = k.output().trimEnd().split('\n');
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const ready = records.find((r) => String(r.msg).startsWith('kleidi is ready'));
    expect(Object.keys(ready ?? {})).toEqual(READY_FIELDS);
    expect(String(ready?.encryptionConfiguration)).toContain(`endpoint: unix://${k.socket}\n`);
  });

  it('status, keys and version print the JSON they always printed', async () => {
    const k = await startKleidi(tmp.dir);
    try {
      const status = await onPipe(['status', '--socket', k.socket, ...PATIENT]);
      expect(status.stdout).toMatch(/^\{"version":"v2","healthz":"ok","keyId":"local:v1:[0-9a-f]+"\}\n$/);
      const keys = await onPipe(['keys', '--state-dir', k.stateDir]);
      const doc = JSON.parse(keys.stdout) as { backend: string; keys: Record<string, unknown>[] };
      expect(keys.stdout).toBe(`${JSON.stringify(doc, null, 2)}\n`);
      expect(Object.keys(doc)).toEqual(['backend', 'keys']);
      expect(Object.keys(doc.keys[0] ?? {})).toEqual(['keyId', 'version', 'createdAt', 'current']);
      const version = await onPipe(['version']);
      expect(version.stdout).toMatch(/^\{"kleidi":"[^"]+","node":"v[\d.]+","kmsApi":"v2"\}\n$/);
    } finally {
      await k.stop();
    }
  });

  it('--log-format text on a pipe logs text, without colours', async () => {
    const k = await startKleidi(tmp.dir, ['--log-format', 'text']);
    await k.stop();
    expect(k.output()).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z INFO {2}starting kleidi=/m);
    expect(k.output()).toContain('\n# encryptionConfiguration:\napiVersion: apiserver.config.k8s.io/v1\n');
    expect(k.output()).not.toContain(ESC);
  });
});
