import { execFile } from 'node:child_process';
import { type DoctorCheck, fail, pass, skip } from './report.js';

/** Runs a local command; undefined when it cannot run (missing, failed, timed out). */
export type Run = (cmd: string, args: readonly string[]) => Promise<string | undefined>;

export const runLocal: Run = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: 5_000 }, (err, stdout) => resolve(err ? undefined : stdout));
  });

const FIX =
  'enable time synchronisation (`timedatectl set-ntp true`, or chronyd/ntpd) and check that its servers are reachable';

/**
 * Whether this host's time-synchronisation service says the clock is synchronised. Nothing
 * here talks to a time server: doctor asks the local service, so it does not measure the skew
 * itself. Cloud credentials (AWS SigV4 signatures) and Vault tokens are time-bound, so a clock
 * that drifts breaks their auth. Sources, first that answers:
 * - systemd: `timedatectl show -p NTPSynchronized --value` prints yes/no
 *   (https://man7.org/linux/man-pages/man1/timedatectl.1.html, `show`);
 * - chrony: `chronyc -n tracking`, whose "Leap status" is "Not synchronised" while unsynchronised
 *   (https://chrony-project.org/doc/4.5/chronyc.html, `tracking`).
 * With neither, the check is reported as not made.
 */
export async function checkTimeSync(run: Run = runLocal): Promise<DoctorCheck> {
  const ntp = (await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value']))?.trim();
  if (ntp === 'yes') return pass('time.sync', 'the system clock is synchronised (timedatectl: NTPSynchronized=yes)');
  if (ntp === 'no')
    return fail('time.sync', 'the system clock is not synchronised (timedatectl: NTPSynchronized=no)', FIX);
  const chrony = await run('chronyc', ['-n', 'tracking']);
  const leap = chrony === undefined ? undefined : /^Leap status\s*:\s*(.+)$/m.exec(chrony)?.[1]?.trim();
  if (leap !== undefined) {
    return /not synchronised/i.test(leap)
      ? fail('time.sync', `the system clock is not synchronised (chronyc: Leap status ${leap})`, FIX)
      : pass('time.sync', `the system clock is synchronised (chronyc: Leap status ${leap})`);
  }
  return skip(
    'time.sync',
    'time synchronisation not checked: neither timedatectl (systemd) nor chronyc answered on this host',
  );
}
