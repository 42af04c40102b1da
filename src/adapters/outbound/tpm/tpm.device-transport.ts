import { open, type FileHandle } from 'node:fs/promises';
import { MAX_MESSAGE_BYTES } from './tpm.constants.js';
import { TpmTransportError } from './tpm.errors.js';
import { announcedSize, SerialQueue, type TpmTransport } from './tpm.transport.js';

/**
 * The Linux kernel's TPM character device with its resource manager,
 * `/dev/tpmrm0`: one write(2) of a whole command, then one read(2) returns the
 * whole response (Linux Documentation/security/tpm/tpm-dev.rst, "tpm_rm").
 * The resource manager swaps transient objects per open file, and flushes
 * them when the file is closed. Reads and writes go through the libuv thread
 * pool, never blocking the event loop; one command at a time.
 */
export class DeviceTransport implements TpmTransport {
  private readonly queue = new SerialQueue();
  private handle: FileHandle | undefined;

  constructor(private readonly path = '/dev/tpmrm0') {}

  transmit(command: Buffer): Promise<Buffer> {
    return this.queue.run(() => this.exchange(command));
  }

  async close(): Promise<void> {
    await this.queue.run(async () => {
      await this.handle?.close();
      this.handle = undefined;
    });
  }

  private async exchange(command: Buffer): Promise<Buffer> {
    if (!this.handle) {
      try {
        this.handle = await open(this.path, 'r+');
      } catch (e) {
        throw new TpmTransportError(`cannot open ${this.path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
    }
    const fh = this.handle;
    try {
      // position null: a character device has no file position (pwrite/pread would fail with ESPIPE).
      await fh.write(command, 0, command.length, null);
      const buf = Buffer.alloc(MAX_MESSAGE_BYTES);
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      const response = buf.subarray(0, bytesRead);
      if (announcedSize(response) !== bytesRead) {
        throw new TpmTransportError(`${this.path} returned ${bytesRead} bytes, not the size its header announces`);
      }
      return response;
    } catch (e) {
      this.handle = undefined;
      await fh.close().catch(() => undefined);
      if (e instanceof TpmTransportError) {
        throw e;
      }
      throw new TpmTransportError(`${this.path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
}
