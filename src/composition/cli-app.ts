import type { CliApp } from '../adapters/inbound/cli/cli-app.js';
import { withKeyAdmin } from './admin.js';
import type { BackendDefinition } from './backends/backend.js';
import { backendNames, backends, DEFAULT_BACKEND } from './backends/index.js';
import { ConfigError, loadConfig } from './config/load.js';
import { doctorSubject } from './doctor.js';
import type { Config } from './config/schema.js';
import { runRetire } from './retire.js';
import { runReencrypt } from './reencrypt.js';
import { runServe } from './serve.js';
import { tpmProvisioning } from './tpm-provisioning.js';
import { runUsage } from './usage.js';
import { versionInfo } from './version.js';

/**
 * What the CLI may ask of the application, wired for the process environment `env`.
 * `registry` is only the list the help text names (a test passes its own); configuration
 * always uses kleidi's registry.
 */
export function cliApp(env: NodeJS.ProcessEnv, registry: readonly BackendDefinition[] = backends): CliApp<Config> {
  return {
    backendNames: backendNames(registry),
    defaultBackend: DEFAULT_BACKEND,
    configure(flags) {
      try {
        return { ok: true, config: loadConfig(flags, env) };
      } catch (err) {
        if (err instanceof ConfigError) return { ok: false, message: err.message };
        throw err;
      }
    },
    serve: (config) => runServe(config, env),
    withKeyAdmin: (config, use) => withKeyAdmin(config, env, use),
    doctor: (config) => doctorSubject(config, env),
    tpm: (config) => tpmProvisioning(config),
    usage: (config, req, signal) => runUsage(config, env, req, signal),
    retire: (config, req, signal) => runRetire(config, env, req, signal),
    reencrypt: (req, signal) => runReencrypt(env, req, signal),
    version: versionInfo,
  };
}
