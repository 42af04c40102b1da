import { connect, type Socket } from 'node:net';
import { TpmTransportError } from './tpm.errors.js';
import { announcedSize, SerialQueue, type TpmTransport } from './tpm.transport.js';

/**
 * swtpm's TCP server socket (`swtpm socket --tpm2 --server type=tcp,...`),
 * which carries raw TPM 2.0 command and response bytes, without the
 * Microsoft simulator's framing (swtpm(8); tpm2-tss has a separate "swtpm"
 * TCTI for it). swtpm serves one data client at a time (a second client
 * waits until the first disconnects), so the transport holds its connection
 * only while commands are queued and closes it when idle: other processes
 * (another kleidi command, tpm2-tools) then take their turn. Transient
 * objects belong to the TPM, not to the connection, and survive it. Used by
 * tests and by operators who run swtpm as a vTPM; production uses /dev/tpmrm0.
 */
export class SocketTransport implements TpmTransport {
  private readonly queue = new SerialQueue();
  private socket: Socket | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs = 30_000,
  ) {}

  private pending = 0;

  async transmit(command: Buffer): Promise<Buffer> {
    this.pending++;
    try {
      return await this.queue.run(() => this.exchange(command));
    } finally {
      if (--this.pending === 0) {
        this.socket?.destroy();
        this.socket = undefined;
      }
    }
  }

  async close(): Promise<void> {
    await this.queue.run(async () => {
      this.socket?.destroy();
      this.socket = undefined;
    });
  }

  private async open(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) {
      return this.socket;
    }
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: this.host, port: this.port });
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e) =>
        reject(new TpmTransportError(`cannot connect to the TPM at ${this.host}:${this.port}: ${e.message}`)),
      );
    });
    socket.setNoDelay(true);
    // An error without a pending exchange only closes the socket; the next exchange reopens it.
    socket.on('error', () => socket.destroy());
    this.socket = socket;
    return socket;
  }

  private async exchange(command: Buffer): Promise<Buffer> {
    const socket = await this.open();
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        let received = Buffer.alloc(0);
        const cleanup = (): void => {
          clearTimeout(timer);
          socket.off('data', onData);
          socket.off('close', onClose);
        };
        const fail = (e: Error): void => {
          cleanup();
          reject(e);
        };
        const onData = (chunk: Buffer): void => {
          received = Buffer.concat([received, chunk]);
          try {
            const size = announcedSize(received);
            if (size !== undefined && received.length >= size) {
              cleanup();
              if (received.length > size) {
                reject(new TpmTransportError(`the TPM sent ${received.length - size} bytes after its response`));
              } else {
                resolve(received);
              }
            }
          } catch (e) {
            fail(e as Error);
          }
        };
        const onClose = (): void =>
          fail(new TpmTransportError(`the TPM at ${this.host}:${this.port} closed the connection mid-command`));
        const timer = setTimeout(
          () =>
            fail(
              new TpmTransportError(`the TPM at ${this.host}:${this.port} did not answer within ${this.timeoutMs} ms`),
            ),
          this.timeoutMs,
        );
        socket.on('data', onData);
        socket.once('close', onClose);
        socket.write(command);
      });
    } catch (e) {
      // The stream is out of step after any failure: start afresh next time.
      socket.destroy();
      this.socket = undefined;
      throw e;
    }
  }
}
