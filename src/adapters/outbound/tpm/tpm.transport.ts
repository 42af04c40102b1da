import { HEADER_BYTES, MAX_MESSAGE_BYTES } from './tpm.constants.js';
import { TpmTransportError } from './tpm.errors.js';

/**
 * A channel to one TPM that carries raw command bytes and returns raw
 * response bytes. A TPM executes one command at a time (TPM 2.0 Library
 * Part 1 §18 "Command execution"), so an implementation serialises its
 * callers: `transmit` never has two commands in flight.
 */
export interface TpmTransport {
  transmit(command: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * Runs jobs one after the other in call order; a failed job does not stop
 * the queue.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const next = this.tail.then(job, job);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * The total size a response announces in its header (bytes 2-5), or
 * undefined while fewer than 10 bytes have arrived. A size below the header
 * or above the platform maximum means the stream is out of step.
 */
export function announcedSize(received: Buffer): number | undefined {
  if (received.length < HEADER_BYTES) {
    return undefined;
  }
  const size = received.readUInt32BE(2);
  if (size < HEADER_BYTES || size > MAX_MESSAGE_BYTES) {
    throw new TpmTransportError(`the TPM sent a response header announcing ${size} bytes`);
  }
  return size;
}
