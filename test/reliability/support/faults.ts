import { analyzeCalls, type CallAnalysis } from './analysis.js';
import { DEADLINE_MS, DEADLINE_SLACK_MS } from './deadline.js';
import { HEALTH_DETECT_MAX_MS, HEALTH_RECOVER_MAX_MS, record, rounds, sleep } from './env.js';
import { describe as describeSample, isOk, isOutage, type HealthWatch } from './health.js';
import { statusOnce, type KleidiNode } from './kleidi.js';
import { Load, verifyJournals, type LoadOptions, type VerifySummary } from './load.js';

/** A running backend under test: one kleidi, its health timeline, every journal written so far. */
export interface BackendRun {
  readonly backend: string;
  readonly node: KleidiNode;
  readonly health: HealthWatch;
  readonly journals: string[];
  readonly load?: LoadOptions;
}

/**
 * A fault injected under load. `outage` faults must show up in health within
 * 10 s and clear within 5 s of the backend's return, without a restart;
 * others (a slow but in-budget backend, a revoked token that kleidi can
 * replace by itself) must cause no failed call at all.
 */
export interface Fault {
  readonly name: string;
  /** The codes the apiserver may get while the fault lasts (and nothing else, ever: never WRONG). */
  readonly allowed: readonly string[];
  readonly outage: boolean;
  /** How long the fault stays after it was detected (or after injection, for non-outages). */
  readonly holdMs?: number;
  /** SIGKILL-style faults: kleidi itself is restarted by restore(), so "no restart" does not apply. */
  readonly restartsKleidi?: boolean;
  /** Why these codes (what the apiserver sees, and why). */
  readonly note?: string;
  inject(): Promise<void>;
  /** Undoes the fault; resolves when the backend is back (e.g. Vault restarted and unsealed). */
  restore(): Promise<void>;
}

export interface FaultResult {
  readonly kind: 'fault';
  readonly backend: string;
  readonly name: string;
  readonly round: number;
  readonly outage: boolean;
  readonly allowed: readonly string[];
  readonly note?: string;
  /** Fault injected → first Status that was not "ok" (ms); undefined when health never reported it. */
  readonly detectMs?: number;
  /** What the apiserver saw from Status during the outage (first non-ok answer). */
  readonly healthReport?: string;
  /** Backend back (restore() resolved) → first Status "ok" (ms). */
  readonly recoverMs?: number;
  readonly restarted: boolean;
  readonly calls: CallAnalysis;
  readonly verify: VerifySummary;
  readonly holdMs: number;
  /** Wall-clock times (ms since the epoch, as the loadgen's CSV): injected, complete, backend back, healthy. */
  readonly times: {
    readonly injected: number;
    readonly complete: number;
    readonly back: number;
    readonly healthy?: number;
  };
  readonly invariants: Record<string, boolean>;
}

/** Runs one fault under load and records everything the invariants need. Does not assert. */
export async function runFault(run: BackendRun, fault: Fault, round: number): Promise<FaultResult> {
  const name = `${run.backend}-${fault.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-r${round}`;
  const load = new Load(name, run.node.spec.socket, { ...run.load, preload: run.journals });
  try {
    return await observe(run, fault, round, load);
  } catch (err) {
    await load.stop().catch(() => undefined);
    throw err;
  }
}

async function observe(run: BackendRun, fault: Fault, round: number, load: Load): Promise<FaultResult> {
  const pidBefore = run.node.pid;
  await sleep(2_000); // baseline: the load is flowing and healthy
  const t0 = Date.now();
  await fault.inject();
  // Detection counts from the moment the fault is complete (a process has exited, a token has expired).
  const tFault = Date.now();
  let detectMs: number | undefined;
  let healthReport: string | undefined;
  const hold = fault.holdMs ?? 3_000;
  if (fault.outage) {
    const hit = await run.health.waitFor(isOutage, t0, 25_000);
    if (hit) {
      detectMs = Math.max(0, hit.t - tFault);
      healthReport = describeSample(hit);
    }
  }
  await sleep(hold);
  if (!fault.outage) {
    const bad = run.health.between(t0, Date.now()).find(isOutage);
    if (bad) healthReport = describeSample(bad);
  }
  await fault.restore();
  const tBack = Date.now();
  const ok = await run.health.waitFor(isOk, tBack, 60_000);
  const recoverMs = ok ? ok.t - tBack : undefined;
  await sleep(2_000); // after: the load must be all OK again
  await load.stop();
  const tEnd = ok ? ok.t + 1_000 : Date.now();
  // 25 ms of tolerance at the start: the loadgen (Go) and this process read the wall clock
  // separately, and a call cut by the fault was once stamped 1–2 ms before t0.
  const calls = analyzeCalls(load.calls(), { from: t0 - 25, to: tEnd, allowed: fault.allowed });
  run.journals.push(load.journal);
  const verify = await verifyJournals(run.node.spec.socket, [load.journal]);
  const restarted = run.node.pid !== pidBefore;
  const invariants: Record<string, boolean> = {
    'no lost Encrypt (journal decrypts after recovery)': verify.lost === 0,
    'no wrong Decrypt': verify.wrong === 0 && calls.wrong === 0,
    'failures only with the documented codes': calls.window.disallowed === 0,
    // Judged against the deadline as the load client saw it pass (analysis.ts, lateness()).
    [`failures inside the deadline (${DEADLINE_MS} ms + ${DEADLINE_SLACK_MS} ms slack)`]: calls.window.late === 0,
    'no failure before the fault or after recovery': calls.outside.failed === 0,
    'load kept flowing after recovery': calls.outside.ok > 0,
  };
  if (fault.outage) {
    invariants[`health reports the outage within ${HEALTH_DETECT_MAX_MS / 1000} s`] =
      detectMs !== undefined && detectMs <= HEALTH_DETECT_MAX_MS;
    if (fault.restartsKleidi) {
      invariants['healthy again after the restart'] = recoverMs !== undefined;
    } else {
      invariants[`healthy within ${HEALTH_RECOVER_MAX_MS / 1000} s of the backend's return`] =
        recoverMs !== undefined && recoverMs <= HEALTH_RECOVER_MAX_MS;
      invariants['without a restart'] = !restarted;
    }
  } else {
    invariants['absorbed: no failed call'] = calls.window.failed === 0;
    invariants['absorbed: health stayed ok'] = healthReport === undefined;
    invariants['without a restart'] = !restarted;
  }
  const result: FaultResult = {
    kind: 'fault',
    backend: run.backend,
    name: fault.name,
    round,
    outage: fault.outage,
    allowed: fault.allowed,
    ...(fault.note ? { note: fault.note } : {}),
    ...(detectMs !== undefined ? { detectMs } : {}),
    ...(healthReport ? { healthReport } : {}),
    ...(recoverMs !== undefined ? { recoverMs } : {}),
    restarted,
    calls,
    verify,
    holdMs: hold,
    times: { injected: t0, complete: tFault, back: tBack, ...(ok ? { healthy: ok.t } : {}) },
    invariants,
  };
  record(result as unknown as Parameters<typeof record>[0]);
  return result;
}

/** The invariants that failed, for an assertion message that says what broke. */
export function broken(r: { invariants: Record<string, boolean> }): string[] {
  return Object.entries(r.invariants)
    .filter(([, ok]) => !ok)
    .map(([k]) => k);
}

/**
 * Runs each fault of `list()` once per round, for as many rounds as `shareMs`
 * of the campaign's time allows, and returns "<fault>: <broken invariants>"
 * for every result that broke one.
 */
export async function runCampaign(run: BackendRun, list: () => Fault[], shareMs: number): Promise<string[]> {
  const r = rounds(shareMs);
  const failures: string[] = [];
  for (let round = 0; r.more(round); round++) {
    for (const f of list()) {
      const res = await runFault(run, f, round);
      if (broken(res).length > 0) failures.push(`${f.name}: ${broken(res).join('; ')}`);
    }
  }
  return failures;
}

/** SIGKILL of kleidi under load, then a restart: the same fault for every backend. */
export function sigkillFault(node: KleidiNode): Fault {
  return {
    name: 'SIGKILL and restart of kleidi',
    outage: true,
    restartsKleidi: true,
    holdMs: 1_500,
    allowed: ['Unavailable', 'DeadlineExceeded'],
    note:
      'kleidi itself is gone: calls in flight at the kill fail UNAVAILABLE (connection reset); new calls wait for the socket ' +
      '(the apiserver client dials with WaitForReady) and either succeed after the restart or end DEADLINE_EXCEEDED at the 3 s deadline.',
    inject: async () => void (await node.stop('SIGKILL')),
    restore: async () => void (await node.start({ anyAnswer: true })),
  };
}

/**
 * `kleidi rotate` while kleidi serves under load: not an outage, so no call
 * may fail; Status must move to the new key_id and every older ciphertext
 * must still decrypt (the loadgen keeps decrypting earlier journals).
 */
export function rotationFault(
  run: BackendRun,
  rotate: () => Promise<{ code: number | null; stderr: string }>,
  waitMs = 25_000,
): Fault {
  let before: string | undefined;
  return {
    name: 'kleidi rotate while serving',
    outage: false,
    holdMs: 500,
    allowed: [],
    note: 'a new KEK becomes current; the running kleidi reports it at its next refresh and keeps decrypting older ciphertexts',
    inject: async () => {
      before = (await statusOnce(run.node.spec.socket, 1_000)).keyId;
      const r = await rotate();
      if (r.code !== 0) throw new Error(`kleidi rotate failed (${r.code}): ${r.stderr}`);
    },
    restore: async () => {
      const until = Date.now() + waitMs;
      while (Date.now() < until) {
        const k = (await statusOnce(run.node.spec.socket, 1_000)).keyId;
        if (k && k !== before) return;
        await sleep(250);
      }
      throw new Error(`Status still reports ${before} ${waitMs} ms after kleidi rotate`);
    },
  };
}

/** A clean restart (SIGTERM, start), then every journal of the backend must decrypt to its seed. */
export async function restartAndVerify(
  run: BackendRun,
): Promise<{ invariants: Record<string, boolean>; verify: VerifySummary }> {
  const exit = await run.node.stop('SIGTERM');
  await run.node.start();
  const verify = await verifyJournals(run.node.spec.socket, run.journals);
  const invariants: Record<string, boolean> = {
    'clean exit on SIGTERM': exit === 0,
    'no lost Encrypt after restart': verify.lost === 0 && verify.entries > 0,
    'no wrong Decrypt after restart': verify.wrong === 0,
  };
  record({
    kind: 'restart-verify',
    backend: run.backend,
    name: 'every journal after a clean restart',
    verify,
    invariants,
  });
  return { invariants, verify };
}
