import { z } from 'zod';
import type { BackendDefinition } from '../backends/backend.js';
import { backends, backendSettingDescription, DEFAULT_BACKEND } from '../backends/index.js';
import { duration, fileMode, flag } from './duration.js';

/** `host:port` or `[v6]:port`, the forms Node's server.listen takes (port 0 = any free port). */
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
const isHostPort = (v: string) => {
  const m = HOST_PORT.exec(v);
  return m !== null && Number(m[1]) <= 65_535;
};

/**
 * The `backend` setting, described from the registry (the configuration
 * reference may pass another list); config/load.ts checks the name against it.
 */
export const backendSetting = (registry: readonly BackendDefinition[] = backends) =>
  z
    .string()
    .min(1)
    .default(DEFAULT_BACKEND)
    .meta({ description: backendSettingDescription(registry) });

/**
 * Settings every backend shares. Backend sections are validated separately
 * by the selected backend's own schema (composition/backends/*.ts).
 */
export const BaseConfigSchema = z.strictObject({
  backend: backendSetting(),
  socket: z.string().min(1).default('unix:///var/run/kleidi/kms.sock').meta({
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
  allowAbstractSocketInsecure: flag.default(false).meta({
    description:
      'Serve an abstract socket (`unix:///@name`). It has no file, so no mode or group: every process in the network namespace (for a hostNetwork pod, the whole host) can call Encrypt and Decrypt.',
  }),
  // The socket's bounds. Defaults sized for the 256 Mi memory limit of the shipped manifests
  // (deploy/kubernetes/static-pod.yaml) against what a held connection or call costs: see
  // docs/security.md "The socket".
  socketMaxConnections: z.coerce.number().int().min(1).max(4096).default(16).meta({
    description:
      'Connections open at once on the KMS socket; one more is closed at once. kube-apiserver keeps one; probes open one each.',
  }),
  socketMaxStreams: z.coerce.number().int().min(1).max(10_000).default(64).meta({
    description:
      'Calls in flight at once on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); clients such as kube-apiserver queue the rest.',
  }),
  socketHandshakeTimeout: duration(100, 120_000).default(10_000).meta({
    format: 'duration',
    description: 'A new connection that has not sent the HTTP/2 preface within this time is closed.',
  }),
  socketIdleTimeout: duration(1_000, 3_600_000).default(300_000).meta({
    format: 'duration',
    description:
      'A connection with no call open for this long is closed (GOAWAY); clients reconnect when they next call. Longer than kube-apiserver’s 1 min Status poll.',
  }),
  maxCallDuration: duration(100, 600_000).default(30_000).meta({
    format: 'duration',
    description:
      'Deadline of a call that carries none, and the longest any call may run, even one whose request never completes. kube-apiserver sends its own (3 s by default).',
  }),
  maxHealthWatches: z.coerce.number().int().min(0).max(1_000).default(8).meta({
    description:
      'grpc.health.v1 Watch streams open at once; one more is refused (RESOURCE_EXHAUSTED). Check is not limited.',
  }),
  stateDir: z
    .string()
    .min(1)
    .default('/var/lib/kleidi')
    .meta({ description: "kleidi's own writable directory; the local keyring lives here." }),
  refreshInterval: duration(100, 30_000).default(10_000).meta({
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
  logFormat: z.enum(['auto', 'json', 'text']).default('auto').meta({
    description:
      'Log lines as `json` (one object a line, for collectors) or `text` (for a person); `auto` picks `text` when the log stream is a terminal, `json` otherwise (a pod, systemd, a pipe).',
  }),
  // Loopback by default: probes run on the node (hostNetwork), and metrics need
  // no wider exposure unless a remote Prometheus scrapes them.
  httpAddress: z
    .string()
    .trim()
    .refine((v) => v === '' || isHostPort(v), 'must be host:port (e.g. 127.0.0.1:8181), or "" to turn HTTP off')
    .default('127.0.0.1:8181')
    .meta({ description: '`/livez`, `/readyz` and `/metrics` listen here (`host:port`); `""` turns HTTP off.' }),
});

type BaseConfig = z.output<typeof BaseConfigSchema>;

/** The validated configuration: shared settings plus the selected backend's section. */
export interface Config extends BaseConfig {
  readonly backendConfig: unknown;
  /** `KLEIDI_*` environment variables that are not settings; logged at startup, not fatal. */
  readonly ignoredEnv: readonly string[];
}

/** Largest gRPC message we accept: Decrypt carries ≤1 KiB ciphertext, ≤1 KiB key_id, ≤32 KiB annotations. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
