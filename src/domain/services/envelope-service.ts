import { annotationsEqual, validateAnnotations } from '../model/annotations.js';
import { decodeEnvelope, encodeEnvelope, envelopeAnnotations, envelopeHeader } from '../model/envelope.js';
import { InvalidRequestError, MalformedCiphertextError } from '../model/errors.js';
import type { StatusReport } from '../model/health.js';
import { parseKeyId } from '../model/key-id.js';
import { CIPHERTEXT_MAX_BYTES, validateCiphertextSize, validatePlaintext } from '../model/limits.js';
import type {
  DecryptCommand,
  EncryptCommand,
  EncryptOutcome,
  KeyManagement,
} from '../../ports/inbound/key-management.port.js';
import type { KeyWrapper } from '../../ports/outbound/key-wrapper.port.js';
import { abortable, throwIfAborted } from './abortable.js';
import type { KeyStateTracker } from './key-state-tracker.js';

/** The KMSv2 use cases: wrap seeds into kleidi envelopes and back. */
export class EnvelopeService implements KeyManagement {
  constructor(
    private readonly wrapper: KeyWrapper,
    private readonly tracker: KeyStateTracker,
  ) {}

  async status(signal: AbortSignal): Promise<StatusReport> {
    throwIfAborted(signal);
    return this.tracker.status();
  }

  async encrypt(cmd: EncryptCommand, signal: AbortSignal): Promise<EncryptOutcome> {
    validatePlaintext(cmd.plaintext);
    // The version Status reports, so Encrypt's key_id always equals Status's: the apiserver discards an
    // Encrypt answer whose key_id differs (rotateDEKOnKeyIDChange in
    // https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go).
    const version = this.tracker.writeVersion();
    // Every envelope carries at least its header and the plaintext's length: refuse before the backend call.
    const floor = envelopeHeader(version.keyId, 'opaque').length + cmd.plaintext.length;
    if (floor > CIPHERTEXT_MAX_BYTES) {
      throw new InvalidRequestError(
        `a ${cmd.plaintext.length}-byte plaintext cannot fit a ciphertext of at most ${CIPHERTEXT_MAX_BYTES} bytes`,
      );
    }
    const wrapped = await this.backend(this.wrapper.wrap(cmd.plaintext, version, signal), signal);
    if (wrapped.keyId !== version.keyId) {
      throw new Error(`backend ${this.wrapper.backend} wrapped with ${wrapped.keyId}, not ${version.keyId}`);
    }
    const ciphertext = encodeEnvelope(wrapped);
    if (ciphertext.length > CIPHERTEXT_MAX_BYTES) {
      throw new InvalidRequestError(
        `a ${cmd.plaintext.length}-byte plaintext gives a ${ciphertext.length}-byte ciphertext; ` +
          `the apiserver accepts at most ${CIPHERTEXT_MAX_BYTES}`,
      );
    }
    const annotations = envelopeAnnotations();
    validateAnnotations(annotations);
    return { ciphertext, keyId: version.keyId, annotations };
  }

  async decrypt(cmd: DecryptCommand, signal: AbortSignal): Promise<Uint8Array> {
    const keyId = parseKeyId(cmd.keyId);
    validateCiphertextSize(cmd.ciphertext);
    const envelope = decodeEnvelope(cmd.ciphertext);
    if (envelope.keyId !== keyId) {
      throw new MalformedCiphertextError('key_id does not match the key that wrapped this ciphertext');
    }
    if (!annotationsEqual(cmd.annotations, envelopeAnnotations(envelope.format))) {
      throw new MalformedCiphertextError('annotations do not match the ones issued with this ciphertext');
    }
    return this.backend(this.wrapper.unwrap(envelope, signal), signal);
  }

  /** A backend call: bounded by the caller's signal, and reported to the tracker when it fails. */
  private async backend<T>(call: Promise<T>, signal: AbortSignal): Promise<T> {
    try {
      return await abortable(call, signal);
    } catch (err) {
      this.tracker.suspect(err);
      throw err;
    }
  }
}
