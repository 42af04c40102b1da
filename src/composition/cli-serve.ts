import type { Config } from './config/schema.js';
import { startServer } from './lifecycle.js';
import { createLogger } from './logger.js';
import { versionInfo } from './version.js';

/**
 * `kleidi serve`: starts, then waits for SIGTERM/SIGINT and shuts down
 * gracefully (exit 0). A second signal exits at once. Startup failures
 * (broken keyring, socket in use) exit 1 with the reason.
 */
export async function runServe(config: Config, env: NodeJS.ProcessEnv): Promise<number> {
  const logger = createLogger({ level: config.logLevel });
  logger.info({ ...versionInfo(), backend: config.backend }, 'starting');
  if (config.ignoredEnv.length > 0) {
    logger.warn({ variables: config.ignoredEnv }, 'ignoring KLEIDI_* environment variables that are not settings');
  }
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled promise rejection'));
  let server;
  try {
    server = await startServer(config, logger, env);
  } catch (err) {
    logger.error({ err }, 'startup failed');
    logger.flush();
    process.stderr.write(`kleidi: startup failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const running = server;
  // A ref'd handle until shutdown has finished, so Node never sees an idle loop with the
  // top-level await still pending (exit code 13) while the last sockets close.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        logger.warn({ signal }, 'second signal; exiting now');
        logger.flush();
        process.exit(1);
      }
      signalled = true;
      logger.info({ signal }, 'signal received');
      running
        .stop()
        .then(
          () => resolve(0),
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            resolve(1);
          },
        )
        .finally(() => {
          clearInterval(keepAlive);
          logger.flush();
        });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
