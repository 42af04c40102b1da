import { createLogger, type ProcessLogger } from '../adapters/outbound/logging/pino.logger.js';
import type { Config } from './config/schema.js';
import { startServer } from './lifecycle.js';
import { noColor } from './no-color.js';
import { versionInfo } from './version.js';

/**
 * Exit code of a process that stopped because it no longer knows its own
 * state: EX_SOFTWARE, "an internal software error has been detected"
 * (sysexits(3), https://man.freebsd.org/cgi/man.cgi?query=sysexits), so it
 * is told apart from a refused start (1) and invalid settings (2).
 */
const EXIT_UNKNOWN_STATE = 70;
/** How long the last log lines get to reach stdout before the process exits anyway. */
const FATAL_FLUSH_MS = 1_000;

/**
 * `kleidi serve`: starts, then waits for SIGTERM/SIGINT and shuts down
 * gracefully (exit 0). A second signal exits at once. Startup failures
 * (broken keyring, socket in use) exit 1 with the reason. A fault nothing
 * handled exits 70 (docs/adr/0007-unknown-state-exits.md).
 */
export async function runServe(config: Config, env: NodeJS.ProcessEnv): Promise<number> {
  const logger = createLogger({ level: config.logLevel, format: config.logFormat, noColor: noColor(env) });
  logger.info({ ...versionInfo(), backend: config.backend }, 'starting');
  if (config.ignoredEnv.length > 0) {
    logger.warn({ variables: config.ignoredEnv }, 'ignoring KLEIDI_* environment variables that are not settings');
  }
  process.on('unhandledRejection', exitOnUnknownState(logger, 'unhandled promise rejection'));
  process.on('uncaughtException', exitOnUnknownState(logger, 'uncaught exception'));
  let server: Awaited<ReturnType<typeof startServer>>;
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

/**
 * A rejection or exception nothing handled means code ran into a path it was
 * not written for: kleidi can no longer vouch for its state (a session not
 * returned to the pool, a lock never released, a cache half updated), so it
 * does not go on serving in it. It logs at fatal, flushes, and exits for its
 * supervisor to restart it from a known state; kube-apiserver waits for the
 * socket meanwhile (docs/adr/0007-unknown-state-exits.md).
 */
function exitOnUnknownState(logger: ProcessLogger, what: string): (err: unknown) => void {
  return (err) => {
    logger.fatal({ err, exitCode: EXIT_UNKNOWN_STATE }, `${what}: kleidi's state is unknown; exiting to be restarted`);
    // A ref'd timer: the process must exit even if the flush never completes.
    setTimeout(() => process.exit(EXIT_UNKNOWN_STATE), FATAL_FLUSH_MS);
    logger.flush(() => process.exit(EXIT_UNKNOWN_STATE));
  };
}
