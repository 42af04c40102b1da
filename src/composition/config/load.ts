import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { parseEndpoint } from '../../adapters/inbound/grpc/endpoint.js';
import { backendByName, backendNames, backends } from '../backends/index.js';
import { BaseConfigSchema, type Config } from './schema.js';

export type Raw = Record<string, unknown>;

/** Every problem found, so an operator fixes them in one go. Exit code 2. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const ENV_PREFIX = 'KLEIDI_';
const camel = (snake: string) => snake.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const upperSnake = (name: string) => name.replace(/([A-Z])/g, '_$1').toUpperCase();

/**
 * Maps `KLEIDI_<SECTION>_<FIELD>` to `{ section: { field } }` and
 * `KLEIDI_<FIELD>` to a top-level field. `KLEIDI_CONFIG` and secrets a
 * backend reads from env itself are not settings. Unknown `KLEIDI_*` names
 * are reported in `ignored`, not fatal: Kubernetes injects service-link
 * variables such as `KLEIDI_SERVICE_HOST` into pods of a namespace with a
 * Service named kleidi.
 */
export function envToRaw(
  env: Readonly<Record<string, string | undefined>>,
  origins?: Map<string, string>,
  ignored: string[] = [],
): Raw {
  const out: Raw = {};
  const secrets = new Set(backends.flatMap((b) => b.secretEnv ?? []));
  const topLevel = new Set(Object.keys(BaseConfigSchema.shape));
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined || name === 'KLEIDI_CONFIG' || secrets.has(name)) continue;
    const rest = name.slice(ENV_PREFIX.length);
    const section = backends.find((b) => rest.startsWith(`${upperSnake(b.section)}_`));
    if (section) {
      const field = camel(rest.slice(upperSnake(section.section).length + 1));
      if (!fieldsOf(section.schema).has(field)) {
        ignored.push(name);
        continue;
      }
      const obj = (out[section.section] ??= {}) as Raw;
      obj[field] = value;
      origins?.set(`${section.section}.${field}`, name);
    } else if (topLevel.has(camel(rest))) {
      out[camel(rest)] = value;
      origins?.set(camel(rest), name);
    } else {
      ignored.push(name);
    }
  }
  return out;
}

function readConfigFile(path: string): Raw {
  let doc: unknown;
  try {
    // YAML 1.1 so an unquoted `socketMode: 0640` is octal, as operators mean it (1.2 reads it as decimal 640).
    doc = parseYaml(readFileSync(path, 'utf8'), { version: '1.1' });
  } catch (err) {
    throw new ConfigError([`config file ${path}: ${err instanceof Error ? err.message : String(err)}`]);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError([`config file ${path}: not a mapping`]);
  return doc as Raw;
}

/** Later sources win; sections merge field by field. */
export function mergeRaw(...layers: Raw[]): Raw {
  const out: Raw = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      const prev = out[k];
      const both = isObj(prev) && isObj(v);
      out[k] = both ? { ...prev, ...v } : v;
    }
  }
  return out;
}

/** defaults < file < env < flags, validated once; throws ConfigError listing every issue. */
export function loadConfig(flags: Raw, env: Readonly<Record<string, string | undefined>>): Config {
  const file = typeof flags.config === 'string' ? flags.config : env.KLEIDI_CONFIG;
  const { config: _ignored, ...settings } = flags;
  const origins = new Map<string, string>();
  const ignoredEnv: string[] = [];
  const raw = mergeRaw(file ? readConfigFile(file) : {}, envToRaw(env, origins, ignoredEnv), settings);
  const sectionNames = new Set(backends.map((b) => b.section));
  const base = Object.fromEntries(Object.entries(raw).filter(([k]) => !sectionNames.has(k)));
  const problems: string[] = [];
  const parsed = BaseConfigSchema.safeParse(base);
  if (!parsed.success) problems.push(...issues(parsed.error, undefined, origins));
  const name = parsed.success ? parsed.data.backend : String(base.backend ?? 'local');
  const def = backendByName(name);
  let backendConfig: unknown;
  if (!def) {
    problems.push(`backend: "${name}" is not one of ${backendNames().join(', ')}`);
  } else {
    const section = def.schema.safeParse(raw[def.section] ?? {});
    if (section.success) backendConfig = section.data;
    else problems.push(...issues(section.error, def.section, origins));
  }
  if (parsed.success) problems.push(...abstractSocketProblems(parsed.data, base, origins));
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return { ...parsed.data, backendConfig, ignoredEnv };
}

/**
 * An abstract socket (`unix:///@name`) has no file, so nothing limits who
 * connects: every process in the network namespace can call Decrypt. kleidi
 * serves one only when allowAbstractSocketInsecure says the operator accepts
 * that, and refuses socketMode/socketGroup with it rather than ignore them.
 */
function abstractSocketProblems(
  cfg: z.output<typeof BaseConfigSchema>,
  given: Raw,
  origins: Map<string, string>,
): string[] {
  let abstract: boolean;
  try {
    abstract = parseEndpoint(cfg.socket).kind === 'abstract';
  } catch {
    return []; // a malformed endpoint is reported, with its reason, when serve opens the socket
  }
  if (!abstract) return [];
  const named = (key: string) => (origins.has(key) ? `${key} (${origins.get(key)})` : key);
  const out: string[] = [];
  if (!cfg.allowAbstractSocketInsecure) {
    out.push(
      `${named('socket')}: ${cfg.socket} is an abstract socket, which has no file and so no mode or group: every process in the network namespace (for a hostNetwork pod, every process on the host) could call Encrypt and Decrypt. Use a socket path, or set allowAbstractSocketInsecure to accept that risk`,
    );
  }
  for (const key of ['socketMode', 'socketGroup']) {
    if (given[key] !== undefined) {
      out.push(
        `${named(key)}: an abstract socket (${cfg.socket}) has no file to apply it to; remove it or use a socket path`,
      );
    }
  }
  return out;
}

/** One line per zod issue, naming the environment variable when a setting came from one. */
function issues(err: z.ZodError, prefix?: string, origins?: Map<string, string>): string[] {
  return err.issues.flatMap((i) => {
    const path = [prefix, ...i.path.map(String)].filter(Boolean).join('.');
    if (i.code === 'unrecognized_keys') {
      return i.keys.map((k) => {
        const key = path ? `${path}.${k}` : k;
        const env = origins?.get(key);
        return env ? `${env}: not a kleidi setting (check the name)` : `${key}: not a kleidi setting`;
      });
    }
    const env = origins?.get(path);
    return [`${path || '(root)'}${env ? ` (${env})` : ''}: ${i.message}`];
  });
}

/** The field names of an object schema (a section's env vars must name one). */
function fieldsOf(schema: z.ZodType): Set<string> {
  const shape = (schema as { shape?: Record<string, unknown> }).shape;
  return new Set(shape ? Object.keys(shape) : []);
}

function isObj(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
