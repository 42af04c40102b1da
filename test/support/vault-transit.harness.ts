import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import type { VaultAuthSettings } from '#src/adapters/outbound/vault-transit/vault-transit.auth.js';
import type { VaultTlsSettings } from '#src/adapters/outbound/vault-transit/vault-transit.agent.js';
import {
  openVaultTransitAdmin,
  openVaultTransitWrapper,
  type VaultTransitSettings,
} from '#src/adapters/outbound/vault-transit/vault-transit.open.js';
import type { Clock } from '#src/ports/outbound/clock.port.js';
import type { Logger } from '#src/ports/outbound/logger.port.js';
import { recordingLogger } from './builders.js';

export interface TestSettings {
  address: string;
  auth: VaultAuthSettings;
  mount?: string;
  key?: string;
  namespace?: string;
  tls?: VaultTlsSettings;
  callBudgetMs?: number;
  attemptTimeoutMs?: number;
  maxAttempts?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Adapter settings as the composition would build them, with test-friendly defaults. */
function vaultSettings(s: TestSettings): VaultTransitSettings {
  return {
    mount: s.mount ?? 'transit',
    key: s.key ?? 'kleidi',
    auth: s.auth,
    client: {
      address: s.address,
      ...(s.namespace ? { namespace: s.namespace } : {}),
      tls: s.tls ?? {},
      callBudgetMs: s.callBudgetMs ?? 2_500,
      attemptTimeoutMs: s.attemptTimeoutMs ?? 1_000,
      maxAttempts: s.maxAttempts ?? 3,
    },
    renewal: { renewFraction: 2 / 3, minBackoffMs: s.minBackoffMs ?? 1_000, maxBackoffMs: s.maxBackoffMs ?? 60_000 },
  };
}

export function openWrapper(s: TestSettings, log: Logger = recordingLogger(), clock: Clock = systemClock) {
  return openVaultTransitWrapper(vaultSettings(s), { clock, log });
}

export function openAdmin(s: TestSettings, log: Logger = recordingLogger(), clock: Clock = systemClock) {
  return openVaultTransitAdmin(vaultSettings(s), { clock, log });
}
