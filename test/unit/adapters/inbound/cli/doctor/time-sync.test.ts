import { describe, expect, it } from 'vitest';
import { checkTimeSync, type Run } from '#src/adapters/inbound/cli/doctor/time-sync.js';

const answering =
  (answers: Record<string, string>): Run =>
  (cmd) =>
    Promise.resolve(answers[cmd]);

describe('the time-sync check (local sources only)', () => {
  it('passes and fails on what timedatectl says', async () => {
    expect(await checkTimeSync(answering({ timedatectl: 'yes\n' }))).toMatchObject({ status: 'pass' });
    expect(await checkTimeSync(answering({ timedatectl: 'no\n' }))).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('timedatectl set-ntp true'),
    });
  });

  it('falls back to chronyc tracking when timedatectl does not answer', async () => {
    const tracking = (leap: string) =>
      `Reference ID    : 0A000001 (ntp)\nStratum         : 3\nLeap status     : ${leap}\n`;
    expect(await checkTimeSync(answering({ chronyc: tracking('Normal') }))).toMatchObject({ status: 'pass' });
    expect(await checkTimeSync(answering({ chronyc: tracking('Not synchronised') }))).toMatchObject({ status: 'fail' });
  });

  it('reports the check as not made when no local source answers', async () => {
    expect(await checkTimeSync(answering({}))).toMatchObject({
      status: 'skip',
      detail: expect.stringContaining('not checked'),
    });
  });
});
