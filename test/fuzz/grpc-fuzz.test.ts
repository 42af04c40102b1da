import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKleidi, tempDir, type KleidiProcess } from '../support/kleidi-process.js';
import { fuzzKleidi, type FuzzRun } from './fuzz-run.js';

/**
 * The CI-sized gRPC fuzz (the reliability campaign, npm run test:reliability,
 * sends 100,000): random bytes, random protobuf fields, mutated valid
 * requests, boundary sizes, unknown methods and tiny deadlines to a running
 * kleidi on the local backend. Every answer must carry a documented code for
 * its input class; kleidi must stay up, healthy and correct.
 */
const COUNT = Number(process.env.KLEIDI_FUZZ_REQUESTS ?? '4000');

describe('gRPC fuzz against a running kleidi (local backend)', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let k: KleidiProcess;
  let run: FuzzRun;

  beforeAll(async () => {
    tmp = await tempDir('kleidi-fuzz-');
    k = await startKleidi(tmp.dir, [], { KLEIDI_LOG_LEVEL: 'info' });
    run = await fuzzKleidi({
      socket: k.socket,
      pid: k.proc.pid!,
      isAlive: () => k.proc.exitCode === null && k.proc.signalCode === null,
      count: COUNT,
      warmup: 1_000,
      concurrency: 16,
    });
  }, 180_000);
  afterAll(async () => {
    await k?.stop();
    await tmp?.cleanup();
  });

  it(`${COUNT} requests: every answer has a documented code for its input class`, () => {
    const unexpected = Object.entries(run.report.byClass)
      .filter(([, s]) => s.unexpected > 0)
      .map(([cls, s]) => `${cls}: ${s.examples.join(' / ')}`);
    expect(unexpected).toEqual([]);
    expect(run.report.requests).toBe(COUNT);
  });

  it('no Decrypt answered OK with other bytes than were encrypted; no malformed OK answer', () => {
    expect(run.report.wrong).toBe(0);
    expect(Object.values(run.report.byClass).reduce((n, s) => n + s.badResponse, 0)).toBe(0);
  });

  it('covers every input class', () => {
    const classes = Object.keys(run.report.byClass);
    for (const prefix of [
      'random bytes',
      'random protobuf fields',
      'mutated valid Encrypt',
      'mutated valid Decrypt (bytes)',
      'mutated valid Decrypt (fields)',
      'boundary:',
      'unknown method',
      'valid request, deadline',
    ]) {
      expect(
        classes.some((c) => c.startsWith(prefix)),
        prefix,
      ).toBe(true);
    }
  });

  it('kleidi is still up, healthy and round-trips; no INTERNAL error was logged', () => {
    expect(run.aliveAfter).toBe(true);
    expect(run.healthyAfter).toBe(true);
    expect(run.roundTripAfter).toBe(true);
    expect(k.output()).not.toMatch(/"unexpected error"|internal error \(ref/);
    expect(Object.values(run.report.byClass).some((s) => (s.codes.INTERNAL ?? 0) > 0)).toBe(false);
  });
});
