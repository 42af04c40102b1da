import { parse as parseYaml } from 'yaml';
import { isObj } from './apiserver.js';
import { type DoctorCheck, fail, pass } from './report.js';

/**
 * The apiserver's default KMS call timeout when `timeout` is unset: 3 s
 * (https://kubernetes.io/docs/tasks/administer-cluster/kms-provider/#configuring-the-kms-provider-kms-v2).
 */
const APISERVER_DEFAULT_TIMEOUT_MS = 3_000;
/**
 * Below this the apiserver gives up before a remote backend's retried call could answer: kleidi's
 * Vault and AWS backends budget 2.5 s per call by default (vault.callTimeoutMs, aws.callTimeoutMs,
 * docs/configuration.md), inside the apiserver's default.
 */
const MIN_SANE_TIMEOUT_MS = 1_000;

export interface KmsExpectation {
  /** The socket's host path (kleidi's `socket` setting). */
  readonly socketHostPath: string;
  /** Maps an endpoint path as the apiserver sees it to the host path, or undefined when not mounted. */
  readonly toHost: (containerPath: string) => string | undefined;
  /** Equality of host paths after resolving links (/var/run → /run). */
  readonly samePath: (a: string, b: string) => boolean;
  /** kleidi's maxCallDuration: a longer apiserver timeout is cut by kleidi anyway. */
  readonly maxCallMs: number;
}

const EXAMPLE =
  'providers: [{kms: {apiVersion: v2, name: kleidi, endpoint: unix://<socket>, timeout: 3s}}, {identity: {}}]';

/**
 * Checks an EncryptionConfiguration (https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/,
 * apiVersion apiserver.config.k8s.io/v1, kind EncryptionConfiguration): some resource list names a
 * `kms` provider with `apiVersion: v2` whose endpoint is this socket, first in its list (only the
 * first provider encrypts new writes), with a sane `timeout`, and `identity`, if present, last.
 */
export function checkEncryptionConfig(text: string, file: string, want: KmsExpectation): DoctorCheck[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return [fail('encryption.parse', `${file} is not YAML (${msg})`, `fix the syntax of ${file}`)];
  }
  if (!isObj(doc) || doc.apiVersion !== 'apiserver.config.k8s.io/v1' || doc.kind !== 'EncryptionConfiguration') {
    return [
      fail(
        'encryption.parse',
        `${file} is not an EncryptionConfiguration (want apiVersion apiserver.config.k8s.io/v1, kind EncryptionConfiguration)`,
        'use the EncryptionConfiguration kleidi prints when it is ready (deploy/kubernetes/encryption-configuration.yaml)',
      ),
    ];
  }
  const groups = Array.isArray(doc.resources) ? doc.resources.filter(isObj) : [];
  const found: {
    resources: string;
    providers: Record<string, unknown>[];
    index: number;
    kms: Record<string, unknown>;
  }[] = [];
  const otherEndpoints: string[] = [];
  for (const g of groups) {
    const providers = Array.isArray(g.providers) ? g.providers.filter(isObj) : [];
    providers.forEach((p, index) => {
      if (!isObj(p.kms)) return;
      const endpoint = typeof p.kms.endpoint === 'string' ? p.kms.endpoint : '';
      const host = endpointHostPath(endpoint, want.toHost);
      if (host !== undefined && want.samePath(host, want.socketHostPath)) {
        found.push({ resources: resourceNames(g), providers, index, kms: p.kms });
      } else {
        otherEndpoints.push(endpoint || '(none)');
      }
    });
  }
  if (found.length === 0) {
    const others = otherEndpoints.length ? ` (kms endpoints found: ${otherEndpoints.join(', ')})` : '';
    return [
      fail(
        'encryption.kms-provider',
        `${file} names no kms provider whose endpoint is kleidi's socket ${want.socketHostPath}${others}`,
        `add a kms provider first in the providers list: ${EXAMPLE}`,
      ),
    ];
  }
  return found.flatMap((f) => checkProvider(f, file, want));
}

function checkProvider(
  f: { resources: string; providers: Record<string, unknown>[]; index: number; kms: Record<string, unknown> },
  file: string,
  want: KmsExpectation,
): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  const name = typeof f.kms.name === 'string' ? f.kms.name : '';
  const what = `kms provider "${name}" for ${f.resources}`;
  // apiVersion defaults to v1, which is deprecated and off by default since 1.29 (KMSv1 feature gate).
  if (f.kms.apiVersion !== 'v2') {
    out.push(
      fail(
        'encryption.kms-version',
        `${what} has apiVersion ${JSON.stringify(f.kms.apiVersion ?? 'v1 (the default)')}; kleidi serves KMS v2 only`,
        `set apiVersion: v2 on that provider in ${file}`,
      ),
    );
  } else {
    out.push(pass('encryption.kms-version', `${what} in ${file} uses KMS apiVersion v2 and kleidi's socket`));
  }
  if (f.index !== 0) {
    out.push(
      fail(
        'encryption.kms-first',
        `${what} is provider ${f.index + 1} of ${f.providers.length}: new writes use the first provider, not kleidi`,
        `move the kms provider to the top of its providers list in ${file}`,
      ),
    );
  } else {
    out.push(pass('encryption.kms-first', `${what} is the first provider, so new writes use kleidi`));
  }
  const raw = f.kms.timeout;
  const ms =
    raw === undefined ? APISERVER_DEFAULT_TIMEOUT_MS : typeof raw === 'string' ? parseGoDuration(raw) : undefined;
  const shown = raw === undefined ? '3s (the default)' : String(raw);
  if (ms === undefined) {
    out.push(
      fail('encryption.timeout', `${what} has timeout ${JSON.stringify(raw)}, not a duration`, 'write timeout: 3s'),
    );
  } else if (ms < MIN_SANE_TIMEOUT_MS) {
    out.push(
      fail(
        'encryption.timeout',
        `${what} has timeout ${shown}: too short for a backend call, the apiserver would give up on answers on their way`,
        `set timeout: 3s in ${file}`,
      ),
    );
  } else if (ms > want.maxCallMs) {
    out.push(
      fail(
        'encryption.timeout',
        `${what} has timeout ${shown}, longer than kleidi's maxCallDuration (${want.maxCallMs} ms), which ends the call first; a slow backend then holds apiserver requests that long`,
        `set timeout: 3s in ${file}`,
      ),
    );
  } else {
    out.push(pass('encryption.timeout', `${what} has timeout ${shown}`));
  }
  const identityAt = f.providers.findIndex((p) => 'identity' in p);
  if (identityAt === -1) {
    out.push(
      pass(
        'encryption.identity-last',
        `no identity provider for ${f.resources}: right once every object was rewritten, otherwise old plaintext objects are unreadable`,
      ),
    );
  } else if (identityAt !== f.providers.length - 1) {
    out.push(
      fail(
        'encryption.identity-last',
        `identity is provider ${identityAt + 1} of ${f.providers.length} for ${f.resources}: providers after it are only tried for reads${identityAt === 0 ? ', and new writes are stored unencrypted' : ''}`,
        `move "- identity: {}" to the end of the providers list in ${file}`,
      ),
    );
  } else {
    out.push(pass('encryption.identity-last', `identity is the last provider for ${f.resources}`));
  }
  return out;
}

/** The endpoint's socket as a host path (the apiserver reads the URL path, k8s.io/kms ParseEndpoint). */
function endpointHostPath(endpoint: string, toHost: (p: string) => string | undefined): string | undefined {
  if (!endpoint.startsWith('unix://')) return undefined;
  let path: string;
  try {
    path = decodeURIComponent(new URL(endpoint).pathname);
  } catch {
    return undefined;
  }
  if (path.startsWith('/@')) return path; // abstract: no file, compared by name
  return toHost(path);
}

function resourceNames(g: Record<string, unknown>): string {
  const r = Array.isArray(g.resources) ? g.resources.filter((x): x is string => typeof x === 'string') : [];
  return r.length ? r.join(', ') : '(no resources)';
}

const GO_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** A Go time.Duration string as metav1.Duration reads it ("3s", "1m30s", "500ms"); undefined if malformed. */
function parseGoDuration(s: string): number | undefined {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    total += Number(m[1]) * (GO_UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    at = re.lastIndex;
  }
  return at === s.length && at > 0 && Number.isFinite(total) ? total : undefined;
}
