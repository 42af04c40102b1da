import type { KeyAdmin } from '../ports/outbound/key-admin.port.js';
import { createLogger } from '../adapters/outbound/logging/pino.logger.js';
import type { Config } from './config/schema.js';
import { buildContainer } from './container.js';
import { noColor } from './no-color.js';
import { TOKENS } from './tokens.js';

/**
 * Opens the configured backend's KeyAdmin for one `init`, `rotate` or `keys`
 * run and tears the container down afterwards. Logs go to stderr (stdout
 * carries the command's JSON) and `info` is lowered to `warn` so a routine
 * run prints only its answer.
 */
export async function withKeyAdmin<T>(
  config: Config,
  env: NodeJS.ProcessEnv,
  use: (admin: KeyAdmin) => Promise<T>,
): Promise<T> {
  const logger = createLogger({
    level: config.logLevel === 'info' ? 'warn' : config.logLevel,
    destination: process.stderr,
    format: config.logFormat,
    noColor: noColor(env),
  });
  const container = buildContainer({ config, logger, env });
  try {
    return await use(await container.getAsync(TOKENS.KeyAdmin));
  } finally {
    await container.unbindAllAsync().catch(() => undefined);
    logger.flush();
  }
}
