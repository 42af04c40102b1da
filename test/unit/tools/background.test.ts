import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../support/kleidi-process.js';

const REPO = resolve(import.meta.dirname, '../../..');
const LIB = join(REPO, 'scripts/lib/background.sh');

/** Runs a bash script that has sourced scripts/lib/background.sh under test-all.sh's options. */
function bash(script: string) {
  const r = spawnSync('bash', ['-c', `set -euo pipefail; source ${JSON.stringify(LIB)}\n${script}`], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('scripts/lib/background.sh: the builds test-all.sh runs while the suites run', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('kleidi-bg-'));
  });
  afterEach(() => cleanup());

  it('awaits each job with its own exit status, at the lowest CPU priority, and shows a failed log', () => {
    const r = bash(`
      background_start ok "${dir}/ok.log" bash -c 'echo "nice $(nice)"; sleep 0.2'
      background_start bad "${dir}/bad.log" bash -c 'echo building; echo "go: no such module" >&2; exit 7'
      ok=0; background_await ok || ok=$?
      bad=0; background_await bad || bad=$?
      echo "ok=$ok bad=$bad"; cat "${dir}/ok.log"`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ok=0 bad=7');
    expect(r.stdout).toContain('nice 19');
    expect(r.stderr).toContain(`background bad failed with exit code 7; the end of its log (${dir}/bad.log):`);
    expect(r.stderr).toContain('  | go: no such module');
    expect(r.stderr).not.toContain('background ok');
  });

  it('stops a job that is still running together with its children (an EXIT trap of a run that ended early)', async () => {
    const r = bash(`
      trap background_stop EXIT
      background_start build "${dir}/build.log" bash -c 'sleep 30 & echo "child $!"; wait'
      for _ in $(seq 50); do grep -q child "${dir}/build.log" 2>/dev/null && break; sleep 0.1; done
      echo "parent \${background_pid[build]}"; cat "${dir}/build.log"
      exit 3`);
    expect(r.code).toBe(3);
    const parent = Number(/parent (\d+)/.exec(r.stdout)?.[1]);
    const child = Number(/child (\d+)/.exec(r.stdout)?.[1]);
    expect(parent).toBeGreaterThan(0);
    expect(child).toBeGreaterThan(0);
    for (let i = 0; i < 50 && (alive(parent) || alive(child)); i++) await new Promise((ok) => setTimeout(ok, 100));
    expect(alive(child), 'the job’s child (a go build, podman) is gone too').toBe(false);
    expect(alive(parent)).toBe(false);
  });
});
