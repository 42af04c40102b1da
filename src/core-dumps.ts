import { writeFileSync } from 'node:fs';

/**
 * Keeps kleidi's memory — local KEKs, unwrapped seeds, PINs and tokens — out of core dumps, applied
 * before anything else is loaded (main.ts imports this module first).
 *
 * A pod cannot set RLIMIT_CORE (the PodSpec has no rlimit field: containers inherit the container
 * runtime's limits, and containerd's own systemd unit sets LimitCORE=infinity), and Node.js has no
 * setrlimit(2) or prctl(2). What a process can do on its own is write /proc/self/coredump_filter:
 * its bits choose which mappings a core dump contains (anonymous private, anonymous shared,
 * file-backed, ELF headers, huge pages; https://man7.org/linux/man-pages/man5/core.5.html,
 * "Controlling which mappings are written to the core dump"). With none set, a core still records
 * registers and the list of mapped files, but no page of the heap, the stack or the environment.
 * The value is per process and inherited by children.
 *
 * An operator who needs a full core to debug a crash can write the default (0x33) back, as root:
 * `echo 0x33 > /proc/<pid>/coredump_filter`. Outside Linux, or without /proc, nothing happens; the
 * systemd unit also sets LimitCORE=0.
 */
function excludeMemoryFromCoreDumps(): void {
  if (process.platform !== 'linux') return;
  try {
    writeFileSync('/proc/self/coredump_filter', '0');
  } catch {
    // Best effort: without a writable /proc the kernel's default filter stays (docs/security.md).
  }
}

excludeMemoryFromCoreDumps();
