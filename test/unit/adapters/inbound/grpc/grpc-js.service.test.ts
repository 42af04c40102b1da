import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeyManagementService } from '#src/adapters/inbound/grpc/gen/kms/v2/api_pb.js';
import { unaryCall } from '#src/adapters/inbound/grpc/grpc-js.service.js';
import { CancelledError, DeadlineExceededError } from '#src/domain/model/errors.js';

const HOUR = 3_600_000;
const statusMethod = KeyManagementService.method.status;

/**
 * Starts a unary call the way grpc-js does: a call object whose deadline is
 * wall-clock time (grpc-js computes it as Date.now() + grpc-timeout when the
 * headers arrive) and that emits 'cancelled' when the stream ends early.
 * Returns the signal the handler got, and the call to emit events on.
 */
function startCall(deadline: number, maxCallMs?: number) {
  let signal: AbortSignal | undefined;
  const handler = (_req: never, ctx: { signal: AbortSignal }) => {
    signal = ctx.signal;
    return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  };
  const call = Object.assign(new EventEmitter(), { request: {}, getDeadline: () => deadline });
  const fn = unaryCall(KeyManagementService, statusMethod, handler as never, maxCallMs);
  fn(call as unknown as grpc.ServerUnaryCall<never, unknown>, () => undefined);
  return { call, signal: () => signal as AbortSignal };
}

/** Resolves with the abort reason once `signal` aborts, or 'not aborted' after `ms`. */
function reasonWithin(signal: AbortSignal, ms: number): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve('not aborted'), ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve(signal.reason);
    });
  });
}

describe('unaryCall measures the call deadline on the monotonic clock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a caller cancel stays a cancel when the wall clock steps forward an hour', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const { call, signal } = startCall(Date.now() + 60_000);
    vi.setSystemTime(Date.now() + HOUR);
    call.emit('cancelled');
    expect(signal().reason).toBeInstanceOf(CancelledError);
  });

  it('the deadline stays a deadline when the wall clock steps back an hour', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const { call, signal } = startCall(Date.now() + 300);
    vi.setSystemTime(Date.now() - HOUR);
    // grpc-js's own deadline timer (a setTimeout, so monotonic) cancels the stream a little
    // before ours fires: that cancel is the deadline, not the caller going away.
    await new Promise((r) => setTimeout(r, 250));
    call.emit('cancelled');
    expect(signal().reason).toBeInstanceOf(DeadlineExceededError);
  });

  it('a call that carries no deadline is aborted at the server-side limit', async () => {
    const { signal } = startCall(Number.POSITIVE_INFINITY, 200);
    expect(await reasonWithin(signal(), 2_000)).toBeInstanceOf(DeadlineExceededError);
  });

  it('a caller deadline longer than the server-side limit is cut to it', async () => {
    const { signal } = startCall(Date.now() + HOUR, 200);
    expect(await reasonWithin(signal(), 2_000)).toBeInstanceOf(DeadlineExceededError);
  });
});
