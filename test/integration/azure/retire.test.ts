import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendMisconfiguredError } from '#src/domain/model/errors.js';
import { type AzureStack, openAdmin, startAzureStack } from '../../support/azure.harness.js';
import { aSignal } from '../../support/builders.js';

/** `kleidi retire` on Key Vault beyond the lifecycle contract: what it changes, and a missing permission. */
describe('azure: retire', () => {
  let stack: AzureStack;
  let n = 0;

  beforeAll(async () => {
    stack = await startAzureStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  async function twoVersions() {
    const keyName = `retire-${++n}`;
    const admin = await openAdmin(stack, { keyName });
    const { current: v1 } = await admin.init(aSignal());
    await admin.rotate(aSignal());
    return { keyName, admin, v1 };
  }

  it('disables exactly that version in the vault, and says how to undo it', async () => {
    const { keyName, admin, v1 } = await twoVersions();
    const retired = await admin.retire(v1.version, aSignal());
    expect(retired.action).toMatch(
      /az keyvault key set-attributes --name retire-\d+ --version [0-9a-f]{32} --enabled true/,
    );
    expect(stack.vault.versions(keyName).map((v) => v.enabled)).toEqual([false, true]);
    // Enabled again by an operator, it is an ordinary older version.
    const first = stack.vault.versions(keyName)[0]?.version ?? '';
    stack.vault.setAttributes(keyName, first, { enabled: true });
    expect((await admin.list(aSignal()))[0]?.note).toBe('decrypt-only');
    await admin.close();
  });

  it('lists a disabled newest version as disabled, not retired', async () => {
    const { keyName, admin } = await twoVersions();
    const newest = stack.vault.versions(keyName)[1]?.version ?? '';
    stack.vault.setAttributes(keyName, newest, { enabled: false });
    expect((await admin.list(aSignal())).map((k) => [k.current, k.note])).toEqual([
      [false, 'decrypt-only'],
      [true, 'disabled'],
    ]);
    await admin.close();
  });

  it('names the role when the identity may not update keys, and leaves the version enabled', async () => {
    const { keyName, admin, v1 } = await twoVersions();
    stack.vault.grant(stack.clientId, 'crypto-user');
    try {
      const err = await admin.retire(v1.version, aSignal()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendMisconfiguredError);
      expect((err as Error).message).toMatch(/Crypto Officer" for kleidi init, rotate and retire/);
    } finally {
      stack.vault.grant(stack.clientId, 'crypto-officer');
    }
    expect(stack.vault.versions(keyName).map((v) => v.enabled)).toEqual([true, true]);
    await admin.close();
  });
});
