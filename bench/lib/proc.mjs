// Process plumbing for the benchmark: spawn and stop the processes it owns
// (by pid, never by name), read their CPU time and peak RSS from /proc, run
// commands and collect their output.
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';

const owned = new Set();
let clkTck = 100;

/** Kills every process still owned (at exit or on a signal). */
export function killOwned() {
  for (const child of owned) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  owned.clear();
}
process.once('exit', killOwned);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killOwned();
    process.exit(130);
  });
}

export async function initClock() {
  const r = await run('getconf', ['CLK_TCK']).catch(() => undefined);
  const n = Number(r?.stdout.trim());
  if (Number.isFinite(n) && n > 0) clkTck = n;
}

/** Runs a command to completion; rejects only when it cannot start. */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    owned.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    child.once('error', (err) => {
      owned.delete(child);
      reject(err);
    });
    child.once('close', (code, signal) => {
      owned.delete(child);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Runs a command that prints one JSON document on stdout (maybe after a non-zero exit). */
export async function runJson(cmd, args, opts = {}) {
  const r = await run(cmd, args, opts);
  const start = r.stdout.indexOf('{');
  if (start < 0)
    throw new Error(`${cmd} ${args.join(' ')} printed no JSON (exit ${r.code}): ${r.stderr.trim().slice(-800)}`);
  const json = JSON.parse(r.stdout.slice(start));
  return { json, code: r.code, stderr: r.stderr };
}

/** A long-running server process with its output in `logFile`. */
export function startProcess(cmd, args, { env, logFile, cwd }) {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  owned.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => owned.delete(child));
  return {
    pid: child.pid,
    child,
    exited,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
}

/** utime + stime of a live process in seconds (/proc/<pid>/stat fields 14 and 15). */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / clkTck;
}

/** Peak resident set size in bytes (VmHWM) and the current one (VmRSS). */
export function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
}

export function loadAverage() {
  const [one, five, fifteen] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return { one, five, fifteen };
}

export async function freePort() {
  const srv = createServer();
  await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address();
  await new Promise((ok) => srv.close(ok));
  return port;
}

/** One HTTP request on 127.0.0.1; resolves { status, text }. */
export function httpCall(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      url,
      { method, agent: false, headers: { ...headers, ...(data ? { 'content-type': 'application/json' } : {}) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** Polls `check` every `everyMs` until it returns a truthy value, or fails after `limitMs`. */
export async function waitFor(what, check, { limitMs = 30_000, everyMs = 50, alive } = {}) {
  const until = Date.now() + limitMs;
  let last;
  for (;;) {
    if (alive && !alive()) throw new Error(`${what}: the process exited`);
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until)
      throw new Error(`${what}: not ready after ${limitMs} ms${last ? ` (${last.message})` : ''}`);
    await sleep(everyMs);
  }
}

export function sleep(ms) {
  return new Promise((ok) => setTimeout(ok, ms));
}

export function exists(path) {
  return existsSync(path);
}
