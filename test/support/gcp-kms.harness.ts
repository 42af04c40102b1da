import { type GcpKmsSettings, openGcpKmsAdmin, openGcpKmsWrapper } from '#src/adapters/outbound/gcp/gcp-kms.open.js';
import type { Logger } from '#src/ports/outbound/logger.port.js';
import { recordingLogger } from './builders.js';
import { GCP_KEY_RING, type GcpKms } from './gcp-kms.fixture.js';

export interface GcpTestSettings {
  key?: string;
  credentialsFile?: string;
  callBudgetMs?: number;
  attemptTimeoutMs?: number;
  maxAttempts?: number;
}

/** Adapter settings as the composition would build them, pointed at the fixture, with test-friendly defaults. */
function gcpTestSettings(kms: GcpKms, s: GcpTestSettings = {}): GcpKmsSettings {
  return {
    key: s.key ?? `${GCP_KEY_RING}/cryptoKeys/kleidi`,
    endpoint: kms.endpoint,
    caFile: kms.caFile,
    credentialsFile: s.credentialsFile ?? kms.credentialsFile,
    calls: {
      callBudgetMs: s.callBudgetMs ?? 2_500,
      attemptTimeoutMs: s.attemptTimeoutMs ?? 1_000,
      maxAttempts: s.maxAttempts ?? 3,
    },
  };
}

export function openWrapper(kms: GcpKms, s: GcpTestSettings = {}, log: Logger = recordingLogger()) {
  return openGcpKmsWrapper(gcpTestSettings(kms, s), { log });
}

export function openAdmin(kms: GcpKms, s: GcpTestSettings = {}, log: Logger = recordingLogger()) {
  return openGcpKmsAdmin(gcpTestSettings(kms, s), { log });
}
