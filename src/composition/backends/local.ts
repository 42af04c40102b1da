import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { LocalKeyAdmin } from '../../adapters/outbound/local/local.key-admin.js';
import { LocalKeyWrapper } from '../../adapters/outbound/local/local.key-wrapper.js';
import { hasMarker, markerPath } from '../../adapters/outbound/local/keyring-marker.js';
import { BackendMisconfiguredError } from '../../domain/model/errors.js';

const keyringExists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );
import { defineBackend, type BackendContext } from './backend.js';

const LocalSchema = z.strictObject({
  /** Defaults to `<stateDir>/keyring.json`. */
  keyringFile: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'Keyring file (mode 0600); the default is `<stateDir>/keyring.json`.' }),
});

const keyringPath = (cfg: z.output<typeof LocalSchema>, ctx: BackendContext) =>
  cfg.keyringFile ?? join(ctx.stateDir, 'keyring.json');

/**
 * The embedded default: a keyring file in the state directory. `serve`
 * creates it on first start (never over an existing one), so kleidi runs
 * with no external service.
 */
export const localBackend = defineBackend({
  name: 'local',
  section: 'local',
  schema: LocalSchema,
  async openWrapper(cfg, ctx) {
    const path = keyringPath(cfg, ctx);
    const admin = new LocalKeyAdmin(path, ctx.logger);
    if (!(await keyringExists(path)) && (await hasMarker(path))) {
      throw new BackendMisconfiguredError(
        `keyring file ${path} is missing but this state directory had one (${markerPath(path)}); ` +
          'restore it from backup, or run `kleidi init` to start over with new keys (old data stays unreadable)',
      );
    }
    const { created } = await admin.init(AbortSignal.timeout(30_000));
    if (created)
      ctx.logger.warn({ file: path }, 'created a new keyring: back it up, and copy it to every control-plane node');
    return LocalKeyWrapper.open(path, ctx.logger);
  },
  openAdmin(cfg, ctx) {
    return Promise.resolve(new LocalKeyAdmin(keyringPath(cfg, ctx), ctx.logger));
  },
});
