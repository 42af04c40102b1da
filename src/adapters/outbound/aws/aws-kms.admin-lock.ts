import { BackendUnavailableError } from '../../../domain/model/errors.js';
import { abortable, throwIfAborted } from '../../../domain/services/abortable.js';
import type { Clock } from '../../../ports/outbound/clock.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import { backoffDelay } from '../shared/backoff.js';
import type { KmsApi } from './aws-kms.client.js';
import { AwsCallFailure, classifyFailure, toKmsError } from './aws-kms.errors.js';
import { sleep } from '../shared/sleep.js';

/** How long a rotate waits for another one to finish before it gives up and says why. */
export const LOCK_WAIT_MS = 20_000;
/** Polls of a held lock: 100 ms doubling to 1 s, spread so waiting nodes do not poll in step. */
const POLL = { minMs: 100, maxMs: 1_000, jitter: 'spread' as const };

/** The alias that serialises `kleidi rotate` for one alias (docs/adr/0009-aws-kms-key-id.md). */
function lockAlias(alias: string): string {
  return `${alias}/kleidi-rotate-lock`;
}

/**
 * Runs `work` while holding the rotation lock of `alias`: an alias that only one
 * `CreateAlias` can create (KMS refuses an existing name with AlreadyExistsException), so
 * rotations from several nodes or operators run one after the other. It points at `target`
 * (an alias must point at a key) and is deleted afterwards, even when `work` fails or the
 * caller's signal has aborted. A lock left behind by a process that died is not taken over:
 * the waiting rotate fails after LOCK_WAIT_MS and names the alias to delete.
 */
export async function withRotationLock<T>(
  api: KmsApi,
  clock: Clock,
  log: Logger,
  alias: string,
  target: string,
  signal: AbortSignal,
  work: () => Promise<T>,
): Promise<T> {
  const lock = lockAlias(alias);
  await acquire(api, clock, lock, target, signal);
  try {
    return await work();
  } finally {
    // Released on a fresh budget: a caller that gave up must not leave the lock behind.
    await api.deleteAlias(lock, AbortSignal.timeout(LOCK_WAIT_MS)).catch((err: unknown) => {
      const f = classifyFailure(err);
      log.warn(
        { alias: lock, reason: f.message },
        `could not release the rotation lock; delete it: aws kms delete-alias --alias-name ${lock}`,
      );
    });
  }
}

async function acquire(api: KmsApi, clock: Clock, lock: string, target: string, signal: AbortSignal): Promise<void> {
  const start = clock.monotonic();
  for (let polls = 0; ; polls++) {
    throwIfAborted(signal);
    try {
      await api.createAlias(lock, target, signal);
      return;
    } catch (err) {
      const f = classifyFailure(err);
      if (!(f instanceof AwsCallFailure) || f.code !== 'AlreadyExistsException') {
        throw toKmsError(f, `CreateAlias ${lock}`);
      }
    }
    // The last pause is cut to the time left, so a waiting rotate gives up
    // after exactly LOCK_WAIT_MS and one last try, not up to a pause earlier.
    const left = LOCK_WAIT_MS - (clock.monotonic() - start);
    if (left <= 0) throw await heldTooLong(api, lock, signal);
    await abortable(sleep(Math.min(backoffDelay(POLL, polls), left)), signal);
  }
}

async function heldTooLong(api: KmsApi, lock: string, signal: AbortSignal): Promise<BackendUnavailableError> {
  const entry = await api
    .listAliases(signal)
    .then((all) => all.find((a) => a.name === lock))
    .catch(() => undefined);
  const since = entry?.since ? ` since ${entry.since.toISOString()}` : '';
  return new BackendUnavailableError(
    `another kleidi rotate holds ${lock}${since} and has not finished within ${LOCK_WAIT_MS / 1000} s; ` +
      `if none is running (it was interrupted), delete the lock: aws kms delete-alias --alias-name ${lock}`,
  );
}

/** A timer that keeps the process alive: an admin command has nothing else pending while it waits. */
