import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKleidi, tempDir } from '../support/kleidi-process.js';
import { softHsmFixture, type SoftHsmFixture } from '../support/softhsm.fixture.js';
import { secretFile, startDevVault, type VaultServer } from '../support/vault-server.fixture.js';

/**
 * Every log line names its backend exactly once. pino writes a child's
 * bindings as they come, so a field bound twice (by the composition root and
 * again by a backend) appears twice in the raw line; JSON.parse would keep
 * only the last, so the raw text is what is checked.
 */
function logLines(output: string): string[] {
  return output.split('\n').filter((l) => l.startsWith('{') && l.includes('"level":'));
}

const occurrences = (line: string, key: string) => line.split(`"${key}":`).length - 1;

/** Runs `kleidi init` and `kleidi rotate` at debug level and returns their log lines. */
async function adminLogs(env: Record<string, string>): Promise<string[]> {
  const lines: string[] = [];
  for (const cmd of ['init', 'rotate']) {
    const run = runKleidi([cmd, '--log-level', 'debug'], env);
    const code = await run.exited;
    expect(code, run.output()).toBe(0);
    lines.push(...logLines(run.output()));
  }
  return lines;
}

function expectBackendOnce(lines: string[], backend: string, adapterMessage: string): void {
  expect(lines.some((l) => l.includes(adapterMessage))).toBe(true); // the adapter itself logged
  for (const line of lines) {
    expect(occurrences(line, 'backend'), line).toBe(1);
    expect(line).toContain(`"backend":"${backend}"`);
  }
}

describe('log lines carry "backend" once', () => {
  it('local', async () => {
    const tmp = await tempDir();
    try {
      const lines = await adminLogs({ KLEIDI_BACKEND: 'local', KLEIDI_STATE_DIR: tmp.dir });
      expectBackendOnce(lines, 'local', 'keyring rotated');
    } finally {
      await tmp.cleanup();
    }
  });

  describe('pkcs11 (SoftHSM2)', () => {
    let fx: SoftHsmFixture;
    beforeAll(async () => {
      fx = await softHsmFixture({ label: 'log-fields' });
    });
    afterAll(async () => {
      await fx?.cleanup();
    });

    it('init and rotate', async () => {
      const lines = await adminLogs({
        KLEIDI_BACKEND: 'pkcs11',
        KLEIDI_PKCS11_TOKEN_LABEL: fx.label,
        KLEIDI_PKCS11_PIN_FILE: fx.pinFile,
        SOFTHSM2_CONF: fx.conf,
      });
      expectBackendOnce(lines, 'pkcs11', 'PKCS#11 key-encryption key created');
    });
  });

  describe('vault (real Vault dev server)', () => {
    let server: VaultServer;
    beforeAll(async () => {
      server = await startDevVault();
      await server.api('POST', 'sys/mounts/transit', { type: 'transit' }); // init creates the key
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('init and rotate', async () => {
      const lines = await adminLogs({
        KLEIDI_BACKEND: 'vault',
        KLEIDI_VAULT_ADDRESS: server.address,
        KLEIDI_VAULT_KEY: 'log-fields',
        KLEIDI_VAULT_TOKEN_FILE: await secretFile(server.dir, 'token', server.rootToken),
      });
      expectBackendOnce(lines, 'vault', 'logged in to Vault');
    });
  });
});
