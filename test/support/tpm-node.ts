import { TpmCommands } from '../../src/adapters/outbound/tpm/tpm.commands.js';
import type { TpmTransport } from '../../src/adapters/outbound/tpm/tpm.transport.js';
import { SocketTransport } from '../../src/adapters/outbound/tpm/tpm.socket-transport.js';
import type { Swtpm } from './swtpm.fixture.js';

/** A transport that records the command code of everything sent through it, and each response code. */
export class RecordingTransport implements TpmTransport {
  readonly sent: number[] = [];
  readonly exchanges: { command: number; rc: number }[] = [];

  constructor(private readonly inner: TpmTransport) {}

  async transmit(command: Buffer): Promise<Buffer> {
    this.sent.push(command.readUInt32BE(6));
    const response = await this.inner.transmit(command);
    this.exchanges.push({ command: command.readUInt32BE(6), rc: response.readUInt32BE(6) });
    return response;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** kleidi's TPM command layer on one swtpm, with the commands it sent. */
export interface TpmNode {
  readonly swtpm: Swtpm;
  readonly tpm: TpmCommands;
  readonly transport: RecordingTransport;
}

export function tpmNode(swtpm: Swtpm): TpmNode {
  const transport = new RecordingTransport(new SocketTransport('127.0.0.1', swtpm.port));
  return { swtpm, tpm: new TpmCommands(transport), transport };
}
