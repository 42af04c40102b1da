import type { DoctorSubject } from '../adapters/inbound/cli/cli-app.js';
import { systemClock } from '../adapters/outbound/clock/system.clock.js';
import { createLogger } from '../adapters/outbound/logging/pino.logger.js';
import { withKeyAdmin } from './admin.js';
import type { KeyVersionInfo } from '../domain/model/key-version.js';
import type { BackendCheck, BackendDefinition } from './backends/backend.js';
import { backendByName } from './backends/index.js';
import type { Config } from './config/schema.js';

/**
 * What `kleidi doctor` works from: the socket settings, and the backend's checks: its own
 * `doctor` hook (files present, credentials given), then, when those passed, a KeyAdmin `list`
 * through the port, which proves the backend reachable and the key readable (and, for the
 * keyring, its trust checks: mode, owner, format).
 */
export function doctorSubject(config: Config, env: NodeJS.ProcessEnv): DoctorSubject {
  return {
    backend: config.backend,
    socket: config.socket,
    socketMode: config.socketMode,
    ...(config.socketGroup !== undefined ? { socketGroup: config.socketGroup } : {}),
    maxCallDurationMs: config.maxCallDuration,
    checkBackend: (signal) => checkBackend(config, env, signal),
  };
}

async function checkBackend(config: Config, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<BackendCheck[]> {
  const def = backendByName(config.backend) as BackendDefinition;
  const ctx = { logger: createLogger({ level: 'silent' }), clock: systemClock, stateDir: config.stateDir, env };
  const own = def.doctor ? [...(await def.doctor(config.backendConfig, ctx))] : [];
  if (own.some((c) => c.status === 'fail')) return own;
  try {
    const keys = await withKeyAdmin({ ...config, logLevel: 'silent' }, env, (admin) => admin.list(signal));
    const current = keys.find((k) => k.current);
    return [
      ...own,
      {
        id: 'backend.keys',
        status: 'pass',
        detail: `${def.name} backend: ${keys.length} key version${keys.length === 1 ? '' : 's'} readable, current key_id ${current?.keyId ?? '(none)'}`,
      },
      ...keys.filter((k) => k.note?.split('; ').includes('staged')).map((k) => stagedCheck(def.name, k)),
    ];
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return [
      ...own,
      { id: 'backend.keys', status: 'fail', detail: `${def.name} backend: ${message}`, fix: fixFor(message, def) },
    ];
  }
}

/**
 * A staged version (two-phase rotation) waits for `kleidi rotate --promote` on every node. This
 * node cannot see the others' copies, so the check says what to compare (docs/operations.md).
 */
function stagedCheck(backend: string, k: KeyVersionInfo): BackendCheck {
  return {
    id: 'backend.staged',
    status: 'warn',
    detail: `${backend} backend: version ${k.version} (${k.keyId}) is staged: it decrypts here but is not current`,
    fix:
      `promote it once every node has it: compare \`kleidi keys\` on each node (version ${k.version} listed), ` +
      `then run \`kleidi rotate --promote ${k.version}\` on each`,
  };
}

/** kleidi's backend errors name their remedy ("(run: chmod 600 …)", "run `kleidi init`"); use it when they do. */
function fixFor(message: string, def: BackendDefinition): string {
  const run = /\(run:? ([^)]+)\)/.exec(message)?.[1];
  if (run) return run;
  if (message.includes('kleidi init')) return `run \`kleidi init --backend ${def.name}\` with the same settings`;
  return `see ${def.docs ?? 'docs/backends/'}`;
}
