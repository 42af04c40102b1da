import { Container } from 'inversify';
import { systemClock } from '../adapters/outbound/clock/system.clock.js';
import { EnvelopeService } from '../domain/services/envelope-service.js';
import { KeyStateTracker, type KeyStateObserver } from '../domain/services/key-state-tracker.js';
import type { Clock } from '../ports/outbound/clock.port.js';
import type { Logger } from '../ports/outbound/logger.port.js';
import type { Metrics } from '../ports/outbound/metrics.port.js';
import { backendByName } from './backends/index.js';
import type { Config } from './config/schema.js';
import { instrumentWrapper } from './observability.js';
import { TOKENS } from './tokens.js';

export interface ContainerDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clock?: Clock;
  readonly observer?: KeyStateObserver;
  /** When set, every backend operation is counted and timed (serve); admin commands leave it out. */
  readonly metrics?: Metrics;
}

/**
 * The composition root: the only place that knows every implementation.
 * Singletons, resolved once with getAsync (backends open asynchronously);
 * teardown runs through onDeactivation when the lifecycle unbinds all.
 */
export function buildContainer(deps: ContainerDeps): Container {
  const { config, logger, env } = deps;
  const backend = backendByName(config.backend);
  if (!backend) throw new Error(`unknown backend ${config.backend}`); // loadConfig already refused it
  const c = new Container({ defaultScope: 'Singleton' });
  c.bind(TOKENS.Config).toConstantValue(config);
  c.bind(TOKENS.Logger).toConstantValue(logger);
  c.bind(TOKENS.Clock).toConstantValue(deps.clock ?? systemClock);
  c.bind(TOKENS.Backend).toConstantValue(backend);
  c.bind(TOKENS.BackendContext).toResolvedValue(
    (log: Logger, clock: Clock) => ({
      logger: log.child({ backend: backend.name }),
      clock,
      stateDir: config.stateDir,
      env,
    }),
    [TOKENS.Logger, TOKENS.Clock],
  );
  c.bind(TOKENS.KeyWrapper)
    .toResolvedValue(
      async (ctx) => instrumentWrapper(await backend.openWrapper(config.backendConfig, ctx), deps.metrics),
      [TOKENS.BackendContext],
    )
    .onDeactivation((w) => w.close());
  c.bind(TOKENS.KeyAdmin)
    .toResolvedValue((ctx) => backend.openAdmin(config.backendConfig, ctx), [TOKENS.BackendContext])
    .onDeactivation((a) => a.close());
  c.bind(TOKENS.KeyStateTracker).toResolvedValue(
    (w, clock, log) => new KeyStateTracker(w, clock, log, probeMaxAge(config.refreshInterval), deps.observer),
    [TOKENS.KeyWrapper, TOKENS.Clock, TOKENS.Logger],
  );
  c.bind(TOKENS.KeyManagement).toResolvedValue(
    (w, tracker) => new EnvelopeService(w, tracker),
    [TOKENS.KeyWrapper, TOKENS.KeyStateTracker],
  );
  return c;
}

/** healthz turns non-ok after three missed refreshes (at least 30 s, so one slow probe is not an outage). */
function probeMaxAge(refreshIntervalMs: number): number {
  return Math.max(3 * refreshIntervalMs, 30_000);
}
