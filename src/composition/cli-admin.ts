import type { KeyVersion, KeyVersionInfo } from '../domain/model/key-version.js';
import { buildContainer } from './container.js';
import type { Config } from './config/schema.js';
import { createLogger } from './logger.js';
import { TOKENS } from './tokens.js';

type AdminCommand = 'init' | 'rotate' | 'keys';

/**
 * `kleidi init | rotate | keys` for the configured backend, through the
 * KeyAdmin port. Output is JSON on stdout; it never contains key material.
 */
export async function runAdmin(cmd: AdminCommand, config: Config, env: NodeJS.ProcessEnv): Promise<number> {
  const logger = createLogger({
    level: config.logLevel === 'info' ? 'warn' : config.logLevel,
    destination: process.stderr,
  });
  const container = buildContainer({ config, logger, env });
  try {
    const admin = await container.getAsync(TOKENS.KeyAdmin);
    const signal = AbortSignal.timeout(60_000);
    switch (cmd) {
      case 'init': {
        const r = await admin.init(signal);
        print({ backend: admin.backend, created: r.created, current: show(r.current) });
        return 0;
      }
      case 'rotate': {
        const v = await admin.rotate(signal);
        print({ backend: admin.backend, rotated: true, current: show(v) });
        return 0;
      }
      case 'keys': {
        const list = await admin.list(signal);
        print({ backend: admin.backend, keys: list.map(show) });
        return 0;
      }
    }
  } finally {
    await container.unbindAllAsync().catch(() => undefined);
    logger.flush();
  }
}

function show(v: KeyVersion | KeyVersionInfo): Record<string, unknown> {
  return { ...v };
}

function print(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj, null, 2)}\n`);
}
