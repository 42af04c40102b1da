import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AzureKeyVaultSettings,
  openAzureAdmin,
  openAzureWrapper,
} from '#src/adapters/outbound/azure/azure.open.js';
import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import type { Clock } from '#src/ports/outbound/clock.port.js';
import type { Logger } from '#src/ports/outbound/logger.port.js';
import { azureTestCa } from './azure-test-ca.js';
import { recordingLogger } from './builders.js';
import { type FakeEntraId, startFakeEntraId } from './fake-entra-id.js';
import { type FakeKeyVault, startFakeKeyVault, type VaultRole } from './fake-key-vault.js';

/** A fake Entra ID and a fake Key Vault (or Managed HSM) trusting it, with one application granted a role. */
export interface AzureStack {
  readonly entra: FakeEntraId;
  readonly vault: FakeKeyVault;
  /** The application kleidi authenticates as (client secret in `secretFile`). */
  readonly clientId: string;
  readonly secretFile: string;
  readonly dir: string;
  stop(): Promise<void>;
}

export async function startAzureStack(
  opts: { kind?: 'vault' | 'managedhsm'; role?: VaultRole } = {},
): Promise<AzureStack> {
  const entra = await startFakeEntraId();
  const vault = await startFakeKeyVault(entra, { kind: opts.kind ?? 'vault' });
  const dir = mkdtempSync(join(tmpdir(), 'kleidi-azure-'));
  const clientId = '00000000-0000-4000-8000-00000000c1e1';
  const secret = `test-secret-${Math.random().toString(36).slice(2)}`;
  const secretFile = join(dir, 'client-secret');
  writeFileSync(secretFile, secret, { mode: 0o600 });
  entra.register(clientId, { kind: 'secret', secret });
  vault.grant(clientId, opts.role ?? 'crypto-officer');
  return {
    entra,
    vault,
    clientId,
    secretFile,
    dir,
    stop: async () => {
      await vault.close();
      await entra.close();
    },
  };
}

export interface AzureTestSettings {
  keyName?: string;
  keyType?: 'RSA' | 'RSA-HSM' | 'oct-HSM';
  identity?: AzureKeyVaultSettings['identity'];
  callBudgetMs?: number;
  attemptTimeoutMs?: number;
  maxAttempts?: number;
}

/** Adapter settings as the composition would build them for the stack, with test-friendly defaults. */
function azureTestSettings(stack: AzureStack, s: AzureTestSettings = {}): AzureKeyVaultSettings {
  const kty = s.keyType ?? (stack.vault.kind === 'managedhsm' ? 'oct-HSM' : 'RSA');
  return {
    vault: { url: stack.vault.url },
    keyName: s.keyName ?? 'kleidi',
    newKey: { kty, size: kty === 'oct-HSM' ? 256 : 2048 },
    identity: s.identity ?? {
      kind: 'client-secret',
      tenantId: stack.entra.tenantId,
      clientId: stack.clientId,
      secretFile: stack.secretFile,
    },
    authorityHost: stack.entra.authorityHost,
    caFile: azureTestCa().caFile,
    // The fake vault's host is 127.0.0.1, not a subdomain of vault.azure.net.
    disableChallengeResourceVerification: true,
    calls: {
      callBudgetMs: s.callBudgetMs ?? 2_500,
      attemptTimeoutMs: s.attemptTimeoutMs ?? 1_000,
      maxAttempts: s.maxAttempts ?? 3,
    },
  };
}

export function openWrapper(
  stack: AzureStack,
  s: AzureTestSettings = {},
  log: Logger = recordingLogger(),
  clock: Clock = systemClock,
) {
  return openAzureWrapper(azureTestSettings(stack, s), { clock, log });
}

export function openAdmin(
  stack: AzureStack,
  s: AzureTestSettings = {},
  log: Logger = recordingLogger(),
  clock: Clock = systemClock,
) {
  return openAzureAdmin(azureTestSettings(stack, s), { clock, log });
}
