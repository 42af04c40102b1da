import { describe, expect, it } from 'vitest';
import { backendByName } from '#src/composition/backends/index.js';
import { TpmConfigSchema, tpmBackend, tpmSettings } from '#src/composition/backends/tpm.js';
import { envToRaw } from '#src/composition/config/load.js';

describe('tpm backend config', () => {
  it('defaults: the kernel resource manager, files in the state directory, an empty auth value', () => {
    const c = TpmConfigSchema.parse({});
    expect(c).toEqual({ device: '/dev/tpmrm0', pcrs: '' });
    expect(tpmSettings(c, { stateDir: '/var/lib/kleidi' })).toEqual({
      tpm: '/dev/tpmrm0',
      nodeKeyFile: '/var/lib/kleidi/tpm-node-keys.json',
      ringFile: '/var/lib/kleidi/tpm-ring.json',
    });
    expect(backendByName('tpm')).toBe(tpmBackend);
    expect(tpmBackend).toMatchObject({ name: 'tpm', section: 'tpm', adapter: 'tpm', libraries: [] });
  });

  it('takes every setting from its KLEIDI_TPM_* twin', () => {
    const raw = envToRaw({
      KLEIDI_TPM_DEVICE: 'swtpm:127.0.0.1:2321',
      KLEIDI_TPM_NODE_KEY_FILE: '/etc/kleidi/node-keys.json',
      KLEIDI_TPM_RING_FILE: '/root/ring.json',
      KLEIDI_TPM_AUTH_FILE: '/etc/kleidi/tpm-auth',
      KLEIDI_TPM_PCRS: 'sha256:0,7',
    });
    const c = TpmConfigSchema.parse(raw.tpm);
    expect(tpmSettings(c, { stateDir: '/var/lib/kleidi' })).toEqual({
      tpm: 'swtpm:127.0.0.1:2321',
      nodeKeyFile: '/etc/kleidi/node-keys.json',
      ringFile: '/root/ring.json',
      authFile: '/etc/kleidi/tpm-auth',
      pcrs: 'sha256:0,7',
    });
  });

  it('pcrs: a SHA-256 selection as tpm2-tools writes it, or empty (no binding)', () => {
    for (const pcrs of ['sha1:0', 'sha256:', 'sha256:0,', '0,7', 'sha256:0;7', 'sha256:123'])
      expect(TpmConfigSchema.safeParse({ pcrs }).success, pcrs).toBe(false);
    for (const pcrs of ['', 'sha256:7', 'sha256:0,2,4,7'])
      expect(TpmConfigSchema.safeParse({ pcrs }).success, pcrs).toBe(true);
  });

  it('rejects a TPM address that is neither a device path nor swtpm:<host>:<port>', () => {
    for (const device of ['tpmrm0', 'swtpm:127.0.0.1', 'mssim:host=x', 'swtpm:h:port'])
      expect(TpmConfigSchema.safeParse({ device }).success).toBe(false);
    expect(TpmConfigSchema.safeParse({ device: '/dev/tpm0' }).success).toBe(true);
  });

  it('has no secret values as settings: the auth value and the ring are file paths only', () => {
    expect(Object.keys(TpmConfigSchema.shape).sort()).toEqual([
      'authFile',
      'device',
      'nodeKeyFile',
      'pcrs',
      'ringFile',
    ]);
    expect(TpmConfigSchema.safeParse({ auth: 'x' }).success).toBe(false);
    expect(tpmBackend.secretEnv).toBeUndefined();
  });

  it('doctor: the node key file must exist before serving', async () => {
    const checks = await tpmBackend.doctor?.(TpmConfigSchema.parse({ device: 'swtpm:127.0.0.1:1' }), {
      stateDir: '/nonexistent-kleidi-state',
    } as never);
    expect(checks).toEqual([
      expect.objectContaining({
        id: 'backend.config',
        status: 'fail',
        detail: expect.stringContaining('tpm-node-keys.json'),
      }),
    ]);
  });
});
