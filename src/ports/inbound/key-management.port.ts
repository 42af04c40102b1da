import type { Annotations } from '../../domain/model/annotations.js';
import type { StatusReport } from '../../domain/model/health.js';
import type { KeyId } from '../../domain/model/key-id.js';

export interface EncryptCommand {
  readonly uid: string;
  readonly plaintext: Uint8Array;
}

export interface EncryptOutcome {
  readonly ciphertext: Uint8Array;
  readonly keyId: KeyId;
  readonly annotations: Annotations;
}

export interface DecryptCommand {
  readonly uid: string;
  readonly keyId: string;
  readonly ciphertext: Uint8Array;
  readonly annotations: Annotations;
}

/**
 * The KMSv2 use cases, at the level of k8s.io/kms pkg/service.Service. The
 * gRPC adapter calls these; errors are KmsError subclasses.
 *
 * - `status` is cheap (cached state). It rejects when writes must stop.
 * - `encrypt` returns exactly the key_id `status` reports.
 * - `decrypt` checks key_id and annotations against the envelope.
 */
export interface KeyManagement {
  status(signal: AbortSignal): Promise<StatusReport>;
  encrypt(cmd: EncryptCommand, signal: AbortSignal): Promise<EncryptOutcome>;
  decrypt(cmd: DecryptCommand, signal: AbortSignal): Promise<Uint8Array>;
}
