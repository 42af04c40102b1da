import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pinSourceStamp, readPin } from '#src/adapters/outbound/pkcs11/pkcs11.pin.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';

describe('readPin', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-pin-'));
    file = join(dir, 'pin');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  const put = async (content: string, mode = 0o600) => {
    await writeFile(file, content, { mode });
    await chmod(file, mode);
  };

  it('reads a 0600 file and drops exactly one trailing newline', async () => {
    await put('12 34\n');
    expect(await readPin({ file })).toEqual({ value: '12 34', origin: `PIN file ${file}` });
    await put('1234\r\n');
    expect((await readPin({ file })).value).toBe('1234');
    await put('1234\n\n');
    expect((await readPin({ file })).value).toBe('1234\n');
  });

  it.each([0o644, 0o640, 0o604, 0o660])('refuses mode %o with the chmod to run', async (mode) => {
    await put('1234\n', mode);
    const reading = readPin({ file });
    await expect(reading).rejects.toBeInstanceOf(BackendMisconfiguredError);
    await expect(reading).rejects.toThrow(
      `has mode 0${mode.toString(8)}; it must not be accessible by group or others (run: chmod 600 ${file})`,
    );
  });

  it('never puts the PIN into an error message', async () => {
    await put('s3cret-pin\n', 0o644);
    await expect(readPin({ file })).rejects.not.toThrow(/s3cret/);
  });

  it('refuses an empty or missing file, both sources, and no source', async () => {
    await put('\n');
    await expect(readPin({ file })).rejects.toThrow(/is empty/);
    await expect(readPin({ file: join(dir, 'nope') })).rejects.toThrow(/cannot read PIN file .*: ENOENT/);
    await expect(readPin({ file, env: '1234' })).rejects.toThrow(/set exactly one/);
    await expect(readPin({})).rejects.toThrow(/KLEIDI_PKCS11_PIN_FILE/);
  });

  it('takes the PIN from the environment', async () => {
    expect(await readPin({ env: '1234' })).toEqual({ value: '1234', origin: 'KLEIDI_PKCS11_PIN' });
  });

  it('stamps change when the file is rewritten', async () => {
    await put('1111\n');
    const before = await pinSourceStamp({ file });
    await new Promise((r) => setTimeout(r, 5));
    await put('2222\n');
    expect(await pinSourceStamp({ file })).not.toBe(before);
    expect(await pinSourceStamp({ env: 'x' })).toBe('env');
  });
});
