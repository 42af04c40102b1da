import type { ServiceImpl } from '@connectrpc/connect';
import type { KeyManagement } from '../../../ports/inbound/key-management.port.js';
import type { Logger } from '../../../ports/outbound/logger.port.js';
import type { KeyManagementService } from './gen/kms/v2/api_pb.js';
import { toRpcError } from './error-mapping.js';

/** Observes each call, for metrics; the default records nothing. */
export type CallObserver = (method: 'Status' | 'Encrypt' | 'Decrypt', code: string, seconds: number) => void;

/**
 * Transport-neutral KMSv2 handlers: copy in, call the use case, copy out.
 * Typed as a Connect ServiceImpl so the same object serves the grpc-js host
 * and in-memory Connect tests. SECURITY: plaintext never reaches the logger.
 */
export function kmsV2Handlers(
  km: KeyManagement,
  log: Logger,
  observe: CallObserver = () => undefined,
): ServiceImpl<typeof KeyManagementService> {
  async function run<T>(method: 'Status' | 'Encrypt' | 'Decrypt', uid: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const out = await fn();
      const seconds = (performance.now() - started) / 1000;
      observe(method, 'OK', seconds);
      // The same fields a per-call child logger would bind, without building one per call
      // (a pino child serialises and redacts its bindings up front, debug enabled or not).
      if (method !== 'Status')
        log.debug(uid ? { uid, method, ms: seconds * 1000 } : { method, ms: seconds * 1000 }, 'kms call ok');
      return out;
    } catch (err) {
      const callLog = uid ? log.child({ uid, method }) : log.child({ method });
      const e = toRpcError(err, callLog);
      const seconds = (performance.now() - started) / 1000;
      observe(method, codeName(e.code), seconds);
      callLog.warn({ code: codeName(e.code), reason: e.rawMessage, ms: seconds * 1000 }, 'kms call failed');
      throw e;
    }
  }

  return {
    status: (_req, ctx) =>
      run('Status', '', async () => {
        const s = await km.status(ctx.signal);
        return { version: s.version, healthz: s.healthz, keyId: s.keyId };
      }),
    encrypt: (req, ctx) =>
      run('Encrypt', req.uid, async () => {
        const out = await km.encrypt({ uid: req.uid, plaintext: req.plaintext }, ctx.signal);
        return { ciphertext: out.ciphertext, keyId: out.keyId, annotations: { ...out.annotations } };
      }),
    decrypt: (req, ctx) =>
      run('Decrypt', req.uid, async () => {
        const plaintext = await km.decrypt(
          { uid: req.uid, keyId: req.keyId, ciphertext: req.ciphertext, annotations: req.annotations },
          ctx.signal,
        );
        return { plaintext };
      }),
  };
}

const CODE_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** The canonical gRPC code name, a bounded label for logs and metrics. */
export function codeName(code: number): string {
  return CODE_NAMES[code] ?? 'UNKNOWN';
}
