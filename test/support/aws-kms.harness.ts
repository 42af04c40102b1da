import { type AwsKmsSettings, openAwsKmsAdmin, openAwsKmsWrapper } from '#src/adapters/outbound/aws/aws-kms.open.js';
import { systemClock } from '#src/adapters/outbound/clock/system.clock.js';
import type { Clock } from '#src/ports/outbound/clock.port.js';
import type { Logger } from '#src/ports/outbound/logger.port.js';
import { recordingLogger } from './builders.js';
import { LOCAL_KMS_REGION } from './local-kms.fixture.js';

export interface AwsTestSettings {
  endpoint: string;
  key?: string;
  region?: string | null;
  callBudgetMs?: number;
  attemptTimeoutMs?: number;
  maxAttempts?: number;
}

/** Adapter settings as the composition would build them, with test-friendly defaults. */
function awsTestSettings(s: AwsTestSettings): AwsKmsSettings {
  return {
    key: s.key ?? 'alias/kleidi',
    ...(s.region === null ? {} : { region: s.region ?? LOCAL_KMS_REGION }),
    endpoint: s.endpoint,
    useFipsEndpoint: false,
    calls: {
      callBudgetMs: s.callBudgetMs ?? 2_500,
      attemptTimeoutMs: s.attemptTimeoutMs ?? 1_000,
      maxAttempts: s.maxAttempts ?? 3,
    },
  };
}

export function openWrapper(s: AwsTestSettings, log: Logger = recordingLogger(), clock: Clock = systemClock) {
  return openAwsKmsWrapper(awsTestSettings(s), { clock, log });
}

export function openAdmin(s: AwsTestSettings, log: Logger = recordingLogger(), clock: Clock = systemClock) {
  return openAwsKmsAdmin(awsTestSettings(s), { clock, log });
}
