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
  summary: 'a keyring file in the state directory, no external service',
  section: 'local',
  schema: LocalSchema,
  adapter: 'local',
  libraries: [],
  docs: 'docs/backends/local.md',
  testing: {
    harness: 'test/backends/local.harness.ts',
    contract: 'test/contract/local.contract.test.ts',
    campaign: 'test/reliability/10-local.campaign.ts',
  },
  // Its trust (mode, owner, format) is proven by doctor's KeyAdmin list, which reads it with these checks.
  async doctor(cfg, ctx) {
    const path = keyringPath(cfg, ctx);
    if (await keyringExists(path))
      return [{ id: 'backend.config', status: 'pass', detail: `keyring file ${path} exists` }];
    const hadOne = await hasMarker(path).catch(() => false);
    return [
      {
        id: 'backend.config',
        status: 'fail',
        detail: hadOne
          ? `keyring file ${path} is missing, but this state directory had one (${markerPath(path)})`
          : `no keyring file at ${path}`,
        fix: hadOne
          ? `restore ${path} from backup (mode 0600, owned by kleidi's user)`
          : `copy the cluster's keyring.json there (mode 0600), or on the first node run \`kleidi init --state-dir ${ctx.stateDir}\``,
      },
    ];
  },
  async openWrapper(cfg, ctx) {
    const path = keyringPath(cfg, ctx);
    // The first start creates the keyring as the service: for the user kleidi runs as.
    const admin = new LocalKeyAdmin(path, ctx.logger, { actor: 'service' });
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
