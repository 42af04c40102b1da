import type { ServiceIdentifier } from 'inversify';
import type { KeyStateTracker } from '../domain/services/key-state-tracker.js';
import type { KeyManagement } from '../ports/inbound/key-management.port.js';
import type { KeyAdmin } from '../ports/outbound/key-admin.port.js';
import type { KeyWrapper } from '../ports/outbound/key-wrapper.port.js';
import type { Clock } from '../ports/outbound/clock.port.js';
import type { Logger } from '../ports/outbound/logger.port.js';
import type { BackendContext, BackendDefinition } from './backends/backend.js';
import type { Config } from './config/schema.js';

const token = <T>(name: string) => Symbol.for(`kleidi/${name}`) as ServiceIdentifier<T>;

/** Typed DI tokens; `Symbol.for` so a token is the same across module instances. */
export const TOKENS = {
  Config: token<Config>('Config'),
  Logger: token<Logger>('Logger'),
  Clock: token<Clock>('Clock'),
  Backend: token<BackendDefinition>('Backend'),
  BackendContext: token<BackendContext>('BackendContext'),
  KeyWrapper: token<KeyWrapper>('KeyWrapper'),
  KeyAdmin: token<KeyAdmin>('KeyAdmin'),
  KeyStateTracker: token<KeyStateTracker>('KeyStateTracker'),
  KeyManagement: token<KeyManagement>('KeyManagement'),
} as const;
