import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readSecretFile, readTrustedFile } from '#src/adapters/outbound/shared/secret-file.js';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';

describe('readSecretFile: one policy for every file holding a secret', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-secret-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const put = async (name: string, content: string, mode = 0o600) => {
    const path = join(dir, name);
    await writeFile(path, content, { mode });
    await chmod(path, mode);
    return path;
  };

  it('reads a 0600 or 0400 regular file, with a stamp of what it read', async () => {
    const path = await put('token', 's3cret\n');
    const r = await readSecretFile(path, { what: 'test token' });
    expect(r.text).toBe('s3cret\n');
    expect(r.stamp).toMatch(/^\d+:7:/);
    await chmod(path, 0o400);
    expect((await readSecretFile(path, { what: 'test token' })).text).toBe('s3cret\n');
  });

  it.each([0o640, 0o620, 0o610, 0o604, 0o602, 0o601, 0o644, 0o660, 0o666])(
    'refuses mode %o: any bit for group or others, with the chmod to run, and never the content',
    async (mode) => {
      const path = await put('key', 'do-not-print', mode);
      const reading = readSecretFile(path, { what: 'test key' });
      await expect(reading).rejects.toBeInstanceOf(BackendMisconfiguredError);
      await expect(reading).rejects.toThrow(
        `test key ${path} has mode 0${mode.toString(8)}; it must not be accessible by group or others (run: chmod 600 ${path})`,
      );
      await expect(readSecretFile(path, { what: 'test key' })).rejects.not.toThrow(/do-not-print/);
    },
  );

  it('refuses a symbolic link unless links are followed (Kubernetes Secret volumes), then checks the target', async () => {
    const target = await put('..data-token', 'tok');
    const link = join(dir, 'token');
    await symlink(target, link);
    await expect(readSecretFile(link, { what: 'keyring file' })).rejects.toThrow(
      `keyring file ${link} is not a regular file (a symbolic link)`,
    );
    expect((await readSecretFile(link, { what: 'Vault token file', followLinks: true })).text).toBe('tok');
    await chmod(target, 0o640);
    await expect(readSecretFile(link, { what: 'Vault token file', followLinks: true })).rejects.toThrow(
      /has mode 0640/,
    );
  });

  it('refuses a directory and a FIFO without blocking on it', async () => {
    await expect(readSecretFile(dir, { what: 'PIN file' })).rejects.toThrow(/is not a regular file/);
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    await expect(readSecretFile(fifo, { what: 'PIN file' })).rejects.toThrow(`PIN file ${fifo} is not a regular file`);
  });

  it('refuses a file larger than maxBytes unread', async () => {
    const path = await put('pin', '1'.repeat(300));
    await expect(readSecretFile(path, { what: 'PIN file', maxBytes: 258 })).rejects.toThrow(
      `PIN file ${path} is too large (300 bytes)`,
    );
  });

  it('names the errno when the file cannot be opened; a missing optional file is undefined', async () => {
    const missing = join(dir, 'nope');
    await expect(readSecretFile(missing, { what: 'PIN file' })).rejects.toThrow(
      `cannot read PIN file ${missing}: ENOENT`,
    );
    expect(await readSecretFile(missing, { what: 'keyring file', optional: true })).toBeUndefined();
  });

  describe('the owner: the user kleidi runs as (a second local user is needed: run as root)', () => {
    const OTHER = 65534;
    beforeEach(() => {
      if (process.geteuid?.() !== 0) throw new Error('these tests chown files to uid 65534: run them as root');
    });

    it('refuses a 0600 file owned by another user, naming both uids and the chown to run', async () => {
      const path = await put('keyring.json', 'do-not-print');
      await chown(path, OTHER, OTHER);
      const reading = readSecretFile(path, { what: 'keyring file' });
      await expect(reading).rejects.toBeInstanceOf(BackendMisconfiguredError);
      await expect(reading).rejects.toThrow(
        `keyring file ${path} is owned by uid ${OTHER}, not by uid 0 (the user kleidi runs as) (run: chown 0 ${path})`,
      );
      await expect(readSecretFile(path, { what: 'keyring file' })).rejects.not.toThrow(/do-not-print/);
    });

    it('refuses the target of a followed link when another user owns it', async () => {
      const target = await put('..data-token', 'tok');
      await chown(target, OTHER, OTHER);
      const link = join(dir, 'token');
      await symlink(target, link);
      await expect(readSecretFile(link, { what: 'Vault token file', followLinks: true })).rejects.toThrow(
        `Vault token file ${link} is owned by uid ${OTHER}, not by uid 0 (the user kleidi runs as) or root`,
      );
    });

    it('checks an explicit owner; a followed link (a Kubernetes Secret volume) may also be root-owned', async () => {
      const path = await put('pin', '1234');
      await expect(
        readSecretFile(path, { what: 'PIN file', owner: { uid: 65532, who: 'the service' } }),
      ).rejects.toThrow(`PIN file ${path} is owned by uid 0, not by uid 65532 (the service)`);
      const link = join(dir, 'pin-link');
      await symlink(path, link);
      const viaLink = await readSecretFile(link, {
        what: 'PIN file',
        followLinks: true,
        owner: { uid: 65532, who: 'the service' },
      });
      expect(viaLink.text).toBe('1234');
      await chown(path, 65532, 65532);
      expect((await readSecretFile(path, { what: 'PIN file', owner: { uid: 65532, who: 'the service' } })).text).toBe(
        '1234',
      );
    });
  });
});

describe('readTrustedFile: files that are not secret but steer kleidi (CA bundle, client certificate, role_id, JWT)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kleidi-trusted-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const put = async (name: string, mode: number) => {
    const path = join(dir, name);
    await writeFile(path, '-----BEGIN CERTIFICATE-----\n', { mode });
    await chmod(path, mode);
    return path;
  };

  it('reads a file anyone may read, through a link (a Kubernetes volume)', async () => {
    const path = await put('ca.pem', 0o644);
    const link = join(dir, 'ca-link.pem');
    await symlink(path, link);
    expect(await readTrustedFile(link, 'Vault CA file')).toBe('-----BEGIN CERTIFICATE-----\n');
  });

  it.each([0o664, 0o646, 0o666])(
    'refuses mode %o: writable by group or others, with the chmod to run',
    async (mode) => {
      const path = await put('ca.pem', mode);
      await expect(readTrustedFile(path, 'Vault CA file')).rejects.toThrow(
        `Vault CA file ${path} has mode 0${mode.toString(8)}; it must not be writable by group or others (run: chmod go-w ${path})`,
      );
    },
  );

  it('refuses a file another user owns (run as root)', async () => {
    if (process.geteuid?.() !== 0) throw new Error('this test chowns a file to uid 65534: run it as root');
    const path = await put('ca.pem', 0o644);
    await chown(path, 65534, 65534);
    await expect(readTrustedFile(path, 'Vault CA file')).rejects.toBeInstanceOf(BackendMisconfiguredError);
    await expect(readTrustedFile(path, 'Vault CA file')).rejects.toThrow(`is owned by uid 65534`);
  });

  it('refuses a directory or a missing file', async () => {
    await expect(readTrustedFile(dir, 'Vault CA file')).rejects.toThrow('is not a regular file');
    await expect(readTrustedFile(join(dir, 'nope'), 'Vault CA file')).rejects.toThrow(
      /cannot read Vault CA file .*ENOENT|does not exist/,
    );
  });
});
