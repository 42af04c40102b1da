import { z } from 'zod';
import { duration, fileMode } from './duration.js';

/**
 * Settings every backend shares. Backend sections are validated separately
 * by the selected backend's own schema (composition/backends/*.ts).
 */
export const BaseConfigSchema = z.strictObject({
  backend: z.string().min(1).default('local'),
  /** unix:///path, unix:///@abstract, or a bare path. */
  socket: z.string().min(1).default('unix:///var/run/kleidi/kms.sock'),
  socketMode: fileMode
    .default(0o600)
    .refine((m) => (m & 0o007) === 0, 'the socket must not be accessible to others (use socketGroup to share it)'),
  /** Group name or gid given to the socket, e.g. the group kube-apiserver runs as. */
  socketGroup: z.union([z.number().int().nonnegative(), z.string().min(1)]).optional(),
  stateDir: z.string().min(1).default('/var/lib/kleidi'),
  /** How often key state and backend health are refreshed; Status is served from this cache. */
  refreshInterval: duration(100, 30_000).default(10_000),
  /** How long SIGTERM waits for in-flight calls. */
  shutdownGrace: duration(0, 120_000).default(10_000),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Loopback HTTP address for /livez, /readyz, /metrics; "" turns it off. */
  httpAddress: z.string().default(''),
});

export type BaseConfig = z.output<typeof BaseConfigSchema>;

/** The validated configuration: shared settings plus the selected backend's section. */
export interface Config extends BaseConfig {
  readonly backendConfig: unknown;
}

/** Largest gRPC message we accept: Decrypt carries ≤1 KiB ciphertext, ≤1 KiB key_id, ≤32 KiB annotations. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
