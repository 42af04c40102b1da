import { z } from 'zod';
import { duration, fileMode } from './duration.js';

/** `host:port` or `[v6]:port`, the forms Node's server.listen takes (port 0 = any free port). */
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
const isHostPort = (v: string) => {
  const m = HOST_PORT.exec(v);
  return m !== null && Number(m[1]) <= 65_535;
};

/**
 * Settings every backend shares. Backend sections are validated separately
 * by the selected backend's own schema (composition/backends/*.ts).
 */
export const BaseConfigSchema = z.strictObject({
  backend: z
    .string()
    .min(1)
    .default('local')
    .meta({
      description: 'Where the key-encryption key lives: `local`, `pkcs11`, `vault` (or `in-memory` for tests).',
    }),
  socket: z
    .string()
    .min(1)
    .default('unix:///var/run/kleidi/kms.sock')
    .meta({
      description:
        'The KMS socket: `unix:///path.sock`, `unix:///@abstract` or a bare path. kube-apiserver must see the same path.',
    }),
  socketMode: fileMode
    .default(0o600)
    .refine((m) => (m & 0o007) === 0, 'the socket must not be accessible to others (use socketGroup to share it)')
    .meta({ format: 'file-mode', description: 'Mode of the socket file; never accessible to others.' }),
  socketGroup: z
    .union([z.number().int().nonnegative(), z.string().min(1)])
    .optional()
    .meta({ description: 'Group name or gid given to the socket, e.g. the group a non-root kube-apiserver runs as.' }),
  stateDir: z
    .string()
    .min(1)
    .default('/var/lib/kleidi')
    .meta({ description: "kleidi's own writable directory; the local keyring lives here." }),
  refreshInterval: duration(100, 30_000)
    .default(10_000)
    .meta({
      format: 'duration',
      description: 'How often key state and backend health are refreshed; Status answers from this cache.',
    }),
  shutdownGrace: duration(0, 120_000)
    .default(10_000)
    .meta({ format: 'duration', description: 'How long SIGTERM lets in-flight calls finish.' }),
  logLevel: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .meta({ description: 'Log level; per-request lines are `debug`.' }),
  // Loopback by default: probes run on the node (hostNetwork), and metrics need
  // no wider exposure unless a remote Prometheus scrapes them (peers.md §3.5).
  httpAddress: z
    .string()
    .trim()
    .refine((v) => v === '' || isHostPort(v), 'must be host:port (e.g. 127.0.0.1:8181), or "" to turn HTTP off')
    .default('127.0.0.1:8181')
    .meta({ description: '`/livez`, `/readyz` and `/metrics` listen here (`host:port`); `""` turns HTTP off.' }),
});

export type BaseConfig = z.output<typeof BaseConfigSchema>;

/** The validated configuration: shared settings plus the selected backend's section. */
export interface Config extends BaseConfig {
  readonly backendConfig: unknown;
  /** `KLEIDI_*` environment variables that are not settings; logged at startup, not fatal. */
  readonly ignoredEnv: readonly string[];
}

/** Largest gRPC message we accept: Decrypt carries ≤1 KiB ciphertext, ≤1 KiB key_id, ≤32 KiB annotations. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
