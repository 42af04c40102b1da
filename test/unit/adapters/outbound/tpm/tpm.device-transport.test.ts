import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeviceTransport } from '../../../../../src/adapters/outbound/tpm/tpm.device-transport.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/**
 * DeviceTransport's I/O discipline: one write(2) of the command and one read(2)
 * of the response at the current file position, never pwrite/pread (a
 * character device has no position). No TPM device exists on the test
 * machines (swtpm's --vtpm-proxy needs /dev/vtpmx), so a regular file stands
 * in: it holds room for the command followed by a response, the write fills
 * the room and the read returns what follows. The TPM protocol itself is
 * tested against swtpm through the socket transport.
 */
describe('DeviceTransport', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-tpm-dev-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the command once and reads the whole response with one read', async () => {
    const path = join(dir, 'tpmrm0');
    const command = hex('8001 0000000c 0000017b 0002');
    const response = hex('8001 0000000e 00000000 0002 abcd');
    await writeFile(path, Buffer.concat([Buffer.alloc(command.length), response]));
    const t = new DeviceTransport(path);
    expect(await t.transmit(command)).toEqual(response);
    await t.close();
    expect((await readFile(path)).subarray(0, command.length)).toEqual(command);
  });

  it('refuses a read that is not exactly the announced response', async () => {
    const path = join(dir, 'tpmrm0');
    await writeFile(path, Buffer.concat([Buffer.alloc(12), hex('8001 00000010 00000000 0002 abcd')]));
    const t = new DeviceTransport(path);
    await expect(t.transmit(hex('8001 0000000c 0000017b 0002'))).rejects.toThrow(
      /returned 14 bytes, not the size its header announces/,
    );
    await t.close();
  });

  it('names the device and the errno when it cannot be opened', async () => {
    const t = new DeviceTransport(join(dir, 'missing'));
    await expect(t.transmit(hex('8001 0000000c 0000017b 0002'))).rejects.toThrow(/cannot open .*missing: ENOENT/);
  });
});
