import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { sleep } from './env.js';

const run = promisify(execFile);

/**
 * A private mount namespace held open by `unshare -m sleep`: kleidi and
 * `kleidi rotate` run inside it (through `nsenter -t <pid> -m`), so the state
 * directory can be a small tmpfs that is remounted read-only or filled up,
 * with no mount visible outside and nothing left behind when the holder dies.
 * Needs root (CAP_SYS_ADMIN), as CI has.
 *
 * Why not chmod: root ignores permission bits (CAP_DAC_OVERRIDE). Why not a
 * bind mount in the host namespace: it would outlive a crashed test run.
 */
export class MountNamespace {
  private constructor(private readonly holder: ChildProcess) {}

  static async create(): Promise<MountNamespace> {
    if (process.getuid?.() !== 0)
      throw new Error('the state-directory faults need root (a private mount namespace and tmpfs)');
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', 'infinity'], { stdio: 'ignore' });
    const ns = new MountNamespace(holder);
    // unshare execs sleep after unsharing; wait until the pid's mount namespace differs from ours.
    const own = await run('readlink', ['/proc/self/ns/mnt']).then((r) => r.stdout.trim());
    for (let i = 0; i < 100; i++) {
      const theirs = await run('readlink', [`/proc/${holder.pid}/ns/mnt`]).then(
        (r) => r.stdout.trim(),
        () => '',
      );
      if (theirs && theirs !== own) return ns;
      if (holder.exitCode !== null) break;
      await sleep(20);
    }
    holder.kill('SIGKILL');
    throw new Error('unshare --mount failed (is this root with CAP_SYS_ADMIN?)');
  }

  /** `path` as seen inside the namespace, readable from outside through /proc/<holder>/root. */
  path(p: string): string {
    return `/proc/${this.holder.pid}/root${p}`;
  }

  /** The command prefix that runs a program inside this namespace. */
  get prefix(): string[] {
    return ['nsenter', '-t', String(this.holder.pid), '-m', '--'];
  }

  async exec(cmd: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
    return run(this.prefix[0]!, [...this.prefix.slice(1), cmd, ...args]);
  }

  async mountTmpfs(dir: string, sizeKiB: number): Promise<void> {
    await this.exec('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', dir]);
  }

  async remount(dir: string, mode: 'ro' | 'rw'): Promise<void> {
    await this.exec('mount', ['-o', `remount,${mode}`, dir]);
  }

  /**
   * Fills the tmpfs with 4 KiB files until ENOSPC, then frees `leavePages`
   * of them. Returns the number of pages used by filler.
   */
  async fill(dir: string, leavePages: number): Promise<number> {
    const script = `i=0; while dd if=/dev/zero of="${dir}/.fill-$i" bs=4096 count=1 2>/dev/null; do i=$((i+1)); done; rm -f "${dir}/.fill-$i"; echo $i`;
    const { stdout } = await this.exec('sh', ['-c', script]);
    const pages = Number(stdout.trim());
    for (let i = 0; i < leavePages && i < pages; i++) await this.exec('rm', ['-f', `${dir}/.fill-${i}`]);
    return pages - leavePages;
  }

  async unfill(dir: string): Promise<void> {
    await this.exec('sh', ['-c', `rm -f "${dir}"/.fill-*`]);
  }

  close(): void {
    this.holder.kill('SIGKILL');
  }
}
