import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { CODE_BY_KIND, toRpcError } from '#src/adapters/inbound/grpc/error-mapping.js';
import {
  BackendMisconfiguredError,
  BackendThrottledError,
  BackendUnavailableError,
  CancelledError,
  OperationUnsupportedError,
  DeadlineExceededError,
  InvalidRequestError,
  KeyUnusableError,
  KeyVersionUnknownError,
  MalformedCiphertextError,
} from '#src/domain/model/errors.js';
import { recordingLogger } from '../../../../support/builders.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// The table in docs/architecture.md, with the gRPC status numbers spelled out
// (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
const TABLE = [
  [new InvalidRequestError('plaintext must not be empty'), 3],
  [new MalformedCiphertextError('envelope is truncated'), 3],
  [new KeyVersionUnknownError('key_id local:v9 unknown'), 5],
  [new KeyUnusableError('key disabled'), 9],
  [new BackendMisconfiguredError('permission denied'), 9],
  [new BackendUnavailableError('vault sealed'), 14],
  [new BackendThrottledError('429'), 8],
  [new DeadlineExceededError('deadline passed'), 4],
  [new CancelledError('caller left'), 1],
  [new OperationUnsupportedError('no staging on vault'), 12],
] as const;

describe('toRpcError', () => {
  it.each(TABLE)('%o → gRPC code %i, message kept', (err, code) => {
    const log = recordingLogger();
    const out = toRpcError(err, log);
    expect(out).toBeInstanceOf(ConnectError);
    expect(out.code).toBe(code);
    expect(out.rawMessage).toBe(err.message);
    expect(log.lines).toEqual([]);
  });

  it('the table covers every kind and uses gRPC numbering', () => {
    expect(Object.keys(CODE_BY_KIND).sort()).toEqual(TABLE.map(([e]) => e.kind).sort());
    expect([Code.InvalidArgument, Code.NotFound, Code.FailedPrecondition, Code.Unavailable]).toEqual([3, 5, 9, 14]);
  });

  it('passes a ConnectError through unchanged', () => {
    const err = new ConnectError('nope', Code.PermissionDenied);
    expect(toRpcError(err, recordingLogger())).toBe(err);
  });

  it.each([
    ['an Error', new TypeError('Cannot read properties of undefined (reading "pin=s3cr3t")')],
    ['a string', 'pin=s3cr3t exploded'],
    ['undefined', undefined],
  ])('answers %s as INTERNAL with a logged reference, never the original text', (_what, thrown) => {
    const log = recordingLogger();
    const out = toRpcError(thrown, log);
    expect(out.code).toBe(Code.Internal);
    const m = /^internal error \(ref ([^)]+)\)$/.exec(out.rawMessage);
    expect(m?.[1]).toMatch(UUID);
    // The marker has letters outside [0-9a-f], so the random hex reference
    // can never contain it by chance (a digit-only marker made this flaky).
    expect(out.rawMessage).not.toContain('s3cr3t');
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({ level: 'error', fields: { err: thrown, ref: m?.[1] } });
  });

  it('uses a fresh reference per error', () => {
    const log = recordingLogger();
    const a = toRpcError(new Error('a'), log).rawMessage;
    const b = toRpcError(new Error('b'), log).rawMessage;
    expect(a).not.toBe(b);
  });
});
